using System.Diagnostics;
using System.Runtime.CompilerServices;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// The packet thread: one dedicated managed thread, registered with DPDK as a non-EAL lcore
/// and pinned to the graph CPU, polling every published port in bursts.
///
/// Input: each port handle in <see cref="Publish"/>'s current array (see <see cref="PortHandles"/>):
/// RX queue 0 of an ethdev port, the guest's TX virtqueue of a vhost-user slot, or what a BENCH
/// NIC sends (Forwarder.Bench.cs, its ports published by <see cref="PublishBenches"/>).
/// Output: frames from a NIC are switched within its VNI to the other local NICs
/// or encapsulated to remote VTEPs (<see cref="Forwarder"/>) and sent when their burst is done;
/// frames from the underlay are answered (ARP/ND) or decapsulated and switched to the local NICs
/// of their VNI. Learned MACs are aged out when the ports are idle.
/// Tables: the <see cref="SwitchTables"/> reference published by <see cref="PublishTables"/> and
/// the <see cref="FirewallPolicy"/> published by <see cref="PublishPolicy"/>, read once per round
/// together with the port array, and the capture rings by handle published by
/// <see cref="PublishCaptures"/> (packet_trace, Forwarder.Capture.cs).
/// Jobs: work on state only this thread may touch (the connection table: export, import) is
/// handed over by <see cref="RunJob"/> and done a bounded step per round.
/// State it writes: the per-handle <see cref="CounterTable"/>, the <see cref="DropCounters"/>,
/// its own <see cref="LoopCounters"/> (once per round) and the shim's quiescent epoch.
/// Per packet: no allocation, lock, syscall, exception or logging.
///
/// Control handshake (QSBR): the control thread publishes a new immutable handle array by one
/// reference swap; the loop reads that reference once per round and calls bf_quiescent() after
/// the round, a point where it holds no port. Once the epoch has moved after a swap, no round
/// can still use a port missing from the new array, so it may be closed. The vhost library's
/// destroy_device callback waits on the same epoch (native/vhost.c).
/// </summary>
internal sealed unsafe class PacketThread : IDisposable
{
    internal const int BurstSize = 32;

    /// <summary>Empty rounds spent busy-polling before the thread starts to sleep.</summary>
    private const int SpinRounds = 2048;

    /// <summary>
    /// While busy-polling, every this many empty rounds the thread offers its CPU to any other
    /// runnable thread there (sched_yield). Alone on its core that returns at once (one syscall
    /// per 16 empty rounds, none while traffic flows: L2 loop unchanged); sharing a core — a
    /// small host that does not isolate the packet core, or two daemons' threads on one core —
    /// the other thread runs as soon as this one has nothing to do instead of at the end of a
    /// scheduler slice: the two-daemon VXLAN loop on one core went from 1.1–1.4 to 2.2–2.8 Mpps.
    /// </summary>
    private const int YieldEveryEmptyRounds = 16;
    private const uint FirstSleepMicroseconds = 16;

    /// <summary>Longest sleep during a short silence (a request waiting for its reply).</summary>
    private const uint ShortIdleSleepMicroseconds = 1000;

    /// <summary>
    /// Longest sleep once the ports have been silent for <see cref="LongIdleMicroseconds"/>.
    /// Idle cost is wake-ups × cost of a wake-up, and a wake-up is expensive where syscalls and
    /// context switches go through a hypervisor (≈30–130 µs measured on the PVM test VMs, a few
    /// µs on bare metal): 8 ms keeps an idle thread under 2 % of a CPU there, at the price of
    /// up to 8 ms on the first frame after a long silence. RX interrupts would remove both costs
    /// where every port supports them.
    /// </summary>
    private const uint LongIdleSleepMicroseconds = 8000;
    private const long LongIdleMicroseconds = 100_000;

    /// <summary>Longest a control-thread job may take before its caller gives up on it.</summary>
    internal static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(10);

    private readonly CounterTable _counters;
    private readonly FilterDropTable _filterDrops;
    private readonly Lock _jobGate = new();
    private PacketThreadJob? _job;
    private FirewallPolicy _policy = FirewallPolicy.Empty;
    private readonly DropCounters _drops = new();
    private LoopCounters _loop;
    private readonly Forwarder _forwarder;
    private readonly ushort _underlay;
    private SwitchTables _tables = SwitchTables.Empty;
    private CaptureRing?[] _captures = new CaptureRing?[PortHandles.Count];
    private BenchPort?[] _benches = new BenchPort?[PortHandles.BenchSlots];
    private readonly nint _pool;
    private readonly int _cpu;
    private readonly int _nice;
    private readonly Serilog.ILogger _log;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _started = new();
    private ushort[] _ports;
    private volatile bool _stop;
    private string? _startError;

    private PacketThread(ushort[] ports, ushort underlay, nint pool, int cpu, int nice, UnderlayConfig? underlayConfig, TimeSpan learnedAge,
        FirewallSettings firewall, Serilog.ILogger log)
    {
        _ports = ports;
        _underlay = underlay;
        _pool = pool;
        _counters = new CounterTable(PortHandles.Count);
        _filterDrops = new FilterDropTable(PortHandles.Count);
        _forwarder = new Forwarder(PortHandles.Count, pool, _counters.Table, _drops, underlay, underlayConfig, learnedAge,
            new FirewallStage(firewall.Capacity, firewall.Timeouts, firewall.CutEstablished), _filterDrops);
        _cpu = cpu;
        _nice = nice;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "bf-packet" };
    }

    /// <summary>The lcore id DPDK gave the thread.</summary>
    internal int Lcore { get; private set; } = -1;

    /// <summary>The CPU the thread is pinned to, or -1 when it could not be pinned.</summary>
    internal int PinnedCpu { get; private set; } = -1;

    /// <summary>The nice value the thread was given, or 0 when none was asked for or the kernel refused it (it then runs at the daemon's).</summary>
    internal int Nice { get; private set; }

    /// <summary>The kernel thread id (for /proc/self/task/&lt;tid&gt;).</summary>
    internal int NativeThreadId { get; private set; }

    /// <summary>
    /// Starts the thread and waits until it is registered with DPDK. <paramref name="pool"/>
    /// gives the mbufs frames from vhost-user guests are copied into (and flood copies are made
    /// from); <paramref name="underlay"/> is the underlay's handle and <paramref name="underlayConfig"/>
    /// its VXLAN configuration (null: frames from the underlay are dropped); <paramref name="learnedAge"/>
    /// is how long a learned remote MAC lives without traffic from it; <paramref name="firewall"/>
    /// sizes and times the connection table. The thread runs on <paramref name="cpu"/> with nice
    /// value <paramref name="nice"/> (0: as its creator).
    /// </summary>
    /// <exception cref="InvalidOperationException">DPDK refused to register the thread.</exception>
    internal static PacketThread Start(ushort[] ports, ushort underlay, nint pool, int cpu, int nice, UnderlayConfig? underlayConfig, TimeSpan learnedAge,
        FirewallSettings firewall, Serilog.ILogger log)
    {
        var thread = new PacketThread(ports, underlay, pool, cpu, nice, underlayConfig, learnedAge, firewall, log);
        thread._thread.Start();
        thread._started.Wait();
        if (thread._startError is not null)
        {
            thread._thread.Join();
            thread._forwarder.Dispose();
            thread._counters.Dispose();
            thread._filterDrops.Dispose();
            throw new InvalidOperationException(thread._startError);
        }
        return thread;
    }

    /// <summary>Makes the port <paramref name="handles"/> the set polled from the next round on. Control thread.</summary>
    internal void Publish(ushort[] handles) => Interlocked.Exchange(ref _ports, handles);

    /// <summary>
    /// Makes <paramref name="tables"/> the switching tables from the next round on. Control thread.
    /// Tables naming a port about to be closed must be replaced before <see cref="WaitQuiescent"/>.
    /// </summary>
    internal void PublishTables(SwitchTables tables) => Interlocked.Exchange(ref _tables, tables);

    /// <summary>
    /// Makes <paramref name="policy"/> the firewall from the next round on. Control thread.
    /// A policy naming a new port must be published before the tables or ports that lead to it.
    /// </summary>
    internal void PublishPolicy(FirewallPolicy policy) => Interlocked.Exchange(ref _policy, policy);

    /// <summary>
    /// Makes <paramref name="rings"/> (by port handle, null: not traced) the capture rings from the
    /// next round on. Control thread. A ring left out may be freed after <see cref="WaitQuiescent"/>.
    /// </summary>
    internal void PublishCaptures(CaptureRing?[] rings) => Interlocked.Exchange(ref _captures, rings);

    /// <summary>
    /// Makes <paramref name="benches"/> (by BENCH slot) the BENCH NICs from the next round on. Control
    /// thread; a BENCH NIC's port must be published before the port array that polls its handle,
    /// and one left out may be freed after <see cref="WaitQuiescent"/>.
    /// </summary>
    internal void PublishBenches(BenchPort?[] benches) => Interlocked.Exchange(ref _benches, benches);

    /// <summary>The firewall policy in use. Any thread.</summary>
    internal FirewallPolicy Policy => Volatile.Read(ref _policy);

    /// <summary>The connection table's figures. Any thread (each figure read atomically).</summary>
    internal (int Entries, int Capacity, ulong Opened, ulong Expired) Conntrack =>
        (_forwarder.Firewall.Count, _forwarder.Firewall.Capacity, _forwarder.Firewall.Opened, _forwarder.Firewall.Expired);

    /// <summary>Remote MACs learned behind VTEPs. Any thread (a plain load of a count only this thread writes).</summary>
    internal int LearnedMacs => _forwarder.LearnedCount;

    /// <summary>Entries of the underlay neighbour cache. Any thread, like <see cref="LearnedMacs"/>.</summary>
    internal int UnderlayNeighbours => _forwarder.NeighbourCount;

    /// <summary>Anti-spoof and firewall drops of a port handle, by reason. Control thread or a metrics scrape (plain loads).</summary>
    internal IReadOnlyList<DropCount> FilterDropsOf(ushort handle) => _filterDrops.Read(handle);

    /// <summary>
    /// Hands <paramref name="job"/> to the packet thread and waits until it is done; false when it
    /// took longer than <see cref="JobTimeout"/> (it is then abandoned). One job at a time. Control thread.
    /// </summary>
    internal bool RunJob(PacketThreadJob job)
    {
        lock (_jobGate)
        {
            Volatile.Write(ref _job, job);
            if (job.Wait(JobTimeout))
            {
                return true;
            }
            job.Cancel();
            Interlocked.CompareExchange(ref _job, null, job);
            return false;
        }
    }

    /// <summary>Frames dropped so far, by reason. Read from any thread.</summary>
    internal DropCounters Drops => _drops;

    /// <summary>Rounds, frames, bursts and busy/idle ticks so far (<see cref="LoopCounters"/>). Read from any thread.</summary>
    internal LoopSnapshot ReadLoopCounters() => _loop.Read();

    /// <summary>
    /// Waits until the loop has finished every round that started before this call, so ports
    /// no longer published are no longer touched. Control thread; at most about one idle sleep.
    /// </summary>
    internal static void WaitQuiescent() => Shim.bf_wait_quiescent();

    /// <summary>Counters of a port handle since it was last reset. Control thread.</summary>
    internal NicCounters CountersOf(ushort handle) => _counters.Read(handle);

    /// <summary>Zeroes a handle's counters before a (re)used handle is published. Control thread.</summary>
    internal void ResetCounters(ushort handle)
    {
        _counters.Reset(handle);
        _filterDrops.Reset(handle);
    }

    /// <summary>Stops the loop; the counters go with it.</summary>
    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        _started.Dispose();
        _forwarder.Dispose();
        _counters.Dispose();
        _filterDrops.Dispose();
    }

    private void Run()
    {
        NativeThreadId = Libc.GetTid();
        // Pin before registering: rte_thread_register records the thread's affinity as the
        // lcore's CPU set.
        // The thread inherits its creator's affinity (EAL's main lcore CPUs), so this sets the
        // CPU outright; the kernel refuses a CPU outside the process's cpuset.
        if (_cpu >= 0 && Libc.SetThreadAffinity([_cpu]))
        {
            PinnedCpu = _cpu;
        }
        // A busy packet thread shares its CPU with whatever else the kernel runs there (on a host
        // that does not isolate it): at nice 0 another task's time slice is a stall of tens of
        // milliseconds for every NIC; at -10 the kernel gives it ~10 % of the CPU in slices of a
        // few milliseconds. An idle packet thread sleeps, so it takes nothing from them then.
        if (_nice != 0)
        {
            if (Libc.SetThreadNice(NativeThreadId, _nice) is { } refused)
            {
                _log.Warning("packet thread: nice {Nice} refused ({Error}); it runs at nice 0 (needs CAP_SYS_NICE)", _nice, refused);
            }
            else
            {
                Nice = _nice;
            }
        }
        var lcore = Shim.bf_thread_register();
        if (lcore < 0)
        {
            _startError = $"cannot register the packet thread with DPDK: {Shim.Error(lcore)}";
            _started.Set();
            return;
        }
        Lcore = lcore;
        if (PinnedCpu < 0)
        {
            _log.Warning("packet thread not pinned: CPU {Cpu} is not available to this process", _cpu);
        }
        _started.Set();
        Shim.bf_packet_thread_online(1);
        try
        {
            Loop();
        }
        finally
        {
            Shim.bf_packet_thread_online(0);
            Shim.bf_thread_unregister();
        }
    }

    [SkipLocalsInit]
    private void Loop()
    {
        var burst = stackalloc nint[BurstSize];
        var counters = _counters.Table;
        var pool = _pool;
        var forwarder = _forwarder;
        var drops = _drops;
        var underlay = _underlay;
        var ethPorts = PortHandles.EthPorts;
        var firstBench = PortHandles.FirstBench;
        var pktLen = MbufLayout.PktLen;
        var idleRounds = 0;
        var sleep = FirstSleepMicroseconds;
        long slept = 0;
        // The previous round, counted once the next one reads the clock (its end).
        var roundStart = Stopwatch.GetTimestamp();
        uint lastReceived = 0, lastBursts = 0;
        // Whether the previous round ended by sleeping or yielding (not a stall: LoopCounters).
        var gaveWay = false;
        while (!_stop)
        {
            var handles = Volatile.Read(ref _ports);
            var tables = Volatile.Read(ref _tables);
            var policy = Volatile.Read(ref _policy);
            // One clock read per round (vDSO, no syscall): learning, ageing and neighbours use it.
            var now = Stopwatch.GetTimestamp();
            forwarder.BeginRound(Volatile.Read(ref _captures), Volatile.Read(ref _benches), now);
            _loop.Round(now - roundStart, lastReceived, lastBursts, gaveWay);
            roundStart = now;
            gaveWay = false;
            uint received = 0, bursts = 0;
            foreach (var handle in handles)
            {
                var n = handle < ethPorts ? Shim.bf_rx_burst(handle, 0, burst, BurstSize)
                    : handle < firstBench ? Shim.bf_vhost_dequeue((uint)(handle - ethPorts), pool, burst, BurstSize)
                    : (ushort)forwarder.BenchPoll(handle, burst, now);
                if (n == 0)
                {
                    continue;
                }
                ulong bytes = 0;
                for (var i = 0; i < n; i++)
                {
                    bytes += *(uint*)((byte*)burst[i] + pktLen);
                }
                ref var c = ref counters[handle];
                Volatile.Write(ref c.PacketsIn, c.PacketsIn + n);
                Volatile.Write(ref c.BytesIn, c.BytesIn + bytes);
                uint dropped;
                dropped = handle == underlay
                    ? forwarder.UnderlayBurst(tables, policy, burst, n, now)
                    : forwarder.SwitchBurst(tables, policy, handle, burst, n, now);
                if (dropped != 0)
                {
                    Volatile.Write(ref c.Drops, c.Drops + dropped);
                }
                received += n;
                bursts++;
            }
            lastReceived = received;
            lastBursts = bursts;
            forwarder.Housekeeping(tables, policy, now);
            var job = Volatile.Read(ref _job);
            if (job is not null && (job.Cancelled || job.Step(forwarder, policy, now)))
            {
                Volatile.Write(ref _job, null);
                job.Complete();
            }
            // Quiescent point: the round holds no port any more (see WaitQuiescent).
            Shim.bf_quiescent();
            if (received != 0 || job is not null)
            {
                idleRounds = 0;
                sleep = FirstSleepMicroseconds;
                slept = 0;
            }
            else if (idleRounds < SpinRounds)
            {
                // Counts up to SpinRounds and stays there while idle (no overflow after months).
                if (++idleRounds % YieldEveryEmptyRounds == 0)
                {
                    _ = Libc.SchedYield();
                    gaveWay = true;
                }
            }
            else
            {
                forwarder.Sweep(policy, now);
                _ = Libc.USleep(sleep);
                gaveWay = true;
                slept += sleep;
                sleep = Math.Min(sleep * 2, slept < LongIdleMicroseconds ? ShortIdleSleepMicroseconds : LongIdleSleepMicroseconds);
            }
        }
    }
}
