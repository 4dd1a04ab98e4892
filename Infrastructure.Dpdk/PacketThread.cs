using System.Runtime.CompilerServices;
using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// The packet thread: one dedicated managed thread, registered with DPDK as a non-EAL lcore
/// and pinned to the graph CPU, polling every published port in bursts.
///
/// Input: RX queue 0 of each port in <see cref="Publish"/>'s current array.
/// Output: none yet — forwarding comes with the switch stage; every frame is freed and counted
/// as a drop of its port ("no stage yet").
/// State it writes: the per-port drop counters and the epoch; nothing else.
/// Per packet: no allocation, lock, syscall, exception or logging.
///
/// Control handshake (QSBR): the control thread publishes a new immutable port array by one
/// reference swap; the loop reads that reference once per round and bumps <see cref="_epoch"/>
/// after the round, a point where it holds no port. Once the epoch has moved after a swap, no
/// round can still use a port missing from the new array, so it may be stopped and closed.
/// </summary>
internal sealed unsafe class PacketThread : IDisposable
{
    internal const int BurstSize = 32;

    /// <summary>Empty rounds spent busy-polling before the thread starts to sleep.</summary>
    private const int SpinRounds = 2048;
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

    private readonly ulong[] _dropped;
    private readonly int _cpu;
    private readonly Serilog.ILogger _log;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _started = new();
    private ushort[] _ports;
    private long _epoch;
    private volatile bool _stop;
    private string? _startError;

    private PacketThread(ushort[] ports, int maxPorts, int cpu, Serilog.ILogger log)
    {
        _ports = ports;
        _dropped = new ulong[maxPorts];
        _cpu = cpu;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "bf-packet" };
    }

    /// <summary>The lcore id DPDK gave the thread.</summary>
    internal int Lcore { get; private set; } = -1;

    /// <summary>The CPU the thread is pinned to, or -1 when it could not be pinned.</summary>
    internal int PinnedCpu { get; private set; } = -1;

    /// <summary>The kernel thread id (for /proc/self/task/&lt;tid&gt;).</summary>
    internal int NativeThreadId { get; private set; }

    /// <summary>Starts the thread and waits until it is registered with DPDK.</summary>
    /// <exception cref="InvalidOperationException">DPDK refused to register the thread.</exception>
    internal static PacketThread Start(ushort[] ports, int maxPorts, int cpu, Serilog.ILogger log)
    {
        var thread = new PacketThread(ports, maxPorts, cpu, log);
        thread._thread.Start();
        thread._started.Wait();
        if (thread._startError is not null)
        {
            thread._thread.Join();
            throw new InvalidOperationException(thread._startError);
        }
        return thread;
    }

    /// <summary>Makes <paramref name="ports"/> the set polled from the next round on. Control thread.</summary>
    internal void Publish(ushort[] ports) => Interlocked.Exchange(ref _ports, ports);

    /// <summary>
    /// Waits until the loop has finished every round that started before this call, so ports
    /// no longer published are no longer touched. Control thread; at most about one idle sleep.
    /// </summary>
    internal void WaitQuiescent()
    {
        var seen = Interlocked.Read(ref _epoch);
        var spin = new SpinWait();
        while (Interlocked.Read(ref _epoch) == seen && _thread.IsAlive)
        {
            spin.SpinOnce(sleep1Threshold: 20);
        }
    }

    /// <summary>Frames of <paramref name="port"/> the thread received and dropped since the port was published.</summary>
    internal ulong DroppedOf(ushort port) => Volatile.Read(ref _dropped[port]);

    /// <summary>Zeroes a port's drop counter before a (re)used port id is published. Control thread.</summary>
    internal void ResetCounters(ushort port) => Volatile.Write(ref _dropped[port], 0);

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        _started.Dispose();
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
        try
        {
            Loop();
        }
        finally
        {
            Shim.bf_thread_unregister();
        }
    }

    [SkipLocalsInit]
    private void Loop()
    {
        var burst = stackalloc nint[BurstSize];
        var dropped = _dropped;
        var idleRounds = 0;
        var sleep = FirstSleepMicroseconds;
        long slept = 0;
        while (!_stop)
        {
            var ports = Volatile.Read(ref _ports);
            uint received = 0;
            foreach (var port in ports)
            {
                var n = Shim.bf_rx_burst(port, 0, burst, BurstSize);
                if (n != 0)
                {
                    Shim.bf_pktmbuf_free_bulk(burst, n);
                    dropped[port] += n;
                    received += n;
                }
            }
            // Quiescent point; a full fence, so the next round's read of _ports cannot be
            // ordered before it (see WaitQuiescent).
            Interlocked.Increment(ref _epoch);
            if (received != 0)
            {
                idleRounds = 0;
                sleep = FirstSleepMicroseconds;
                slept = 0;
            }
            else if (++idleRounds > SpinRounds)
            {
                _ = Libc.USleep(sleep);
                slept += sleep;
                sleep = Math.Min(sleep * 2, slept < LongIdleMicroseconds ? ShortIdleSleepMicroseconds : LongIdleSleepMicroseconds);
            }
        }
    }
}
