using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Numerics;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// A NIC that has a port: the NIC as last reconciled, its port handle (<see cref="PortHandles"/>),
/// what backs it (a vhost library slot or an ethdev device name), its path, and the conntrack
/// zone of this incarnation of the port (<see cref="Pipeline.Firewall.NicFilter.Zone"/>).
/// </summary>
/// <param name="Bench">A BENCH NIC's probe and answer queue, or null.</param>
internal sealed record NicPort(DataPathNic Nic, ushort Handle, string Device, string Path, uint Zone, BenchPort? Bench = null)
{
    internal bool IsVhost => PortHandles.IsVhost(Handle);
}

/// <summary>
/// The DPDK data path of butterflyd: EAL, one mbuf pool, the underlay port, one port per NIC
/// and the packet thread polling them all. A vhost-user NIC is a socket of DPDK's vhost
/// library (no ethdev port, so their number is not bound by RTE_MAX_ETHPORTS); a tap NIC is a
/// hotplugged net_tap ethdev. NICs of one VNI are switched to each other on this host (see
/// <see cref="Forwarder"/>) through each NIC's anti-spoofing and security groups; the tables and
/// the compiled firewall come from every Reconcile (DpdkDataPath.Firewall.cs). Every public
/// member is for the control thread (calls are serialised by a lock).
/// </summary>
public sealed partial class DpdkDataPath : IDataPath, IDisposable
{
    /// <summary>
    /// mbufs in the pool: what can hold them at once, rounded up to 2^n − 1 (the ring's best
    /// size). Held for long: the underlay's RX and TX descriptors, and the RX descriptors of
    /// every tap NIC (the tap PMD fills them up front; its TX writes a frame to the kernel and
    /// frees it at once). Held briefly: two lcore caches (the packet thread's and EAL's main
    /// thread's, each up to 1.5 × the cache size) and one vhost-user burst — vhost-user NICs
    /// hold none between rounds: the packet thread copies a burst (≤ 32 frames of ≤ 32 mbufs
    /// each for a 64 KiB TSO frame) and frees it before the next port, however many NICs there
    /// are. An mbuf is ≈ 2.3 KiB, so this is most of an idle daemon's memory: 8 191 of them are
    /// 18.5 MiB (16 383 took 64 MiB before the pool was packed and sized). A pool that runs dry
    /// drops what a port receives and counts it as the port's rx_nombuf.
    /// </summary>
    internal static uint PoolSizeFor(int maxPorts)
    {
        const int LcoreCaches = 2 * (MempoolCacheSize * 3 / 2);
        const int VhostBurst = PacketThread.BurstSize * 32; // 32 frames of up to 32 segments (a 64 KiB TSO frame)
        var held = (2 * UnderlayDescriptors) + (Math.Max(0, maxPorts - 1) * TapRxDescriptors) + LcoreCaches + VhostBurst;
        return (uint)(BitOperations.RoundUpToPowerOf2((uint)held + 1) - 1);
    }

    /// <summary>RTE_MEMPOOL_CACHE_MAX_SIZE, the per-lcore cache bf_mempool_create asks for.</summary>
    private const int MempoolCacheSize = 512;
    private const ushort UnderlayDescriptors = 1024;

    /// <summary>The tap PMD fills every RX descriptor with an mbuf up front; 64 cover a 64 KiB frame.</summary>
    private const ushort TapRxDescriptors = 64;
    private const ushort TapTxDescriptors = 256;

    /// <summary>DPDK device name of the tap underlay made when EAL found no port (the name the default EAL arguments give it).</summary>
    private const string FallbackUnderlayDevice = "net_tap0";

    private readonly Lock _gate = new();
    private readonly DataPathOptions _options;
    private readonly Serilog.ILogger _log;
    private readonly string _filePrefix;
    private readonly string? _runtimeDir;
    private readonly nint _pool;
    private readonly ushort _underlay;
    private readonly int _maxPorts;
    private readonly PacketThread _thread;
    private readonly UnderlayFlooding _flooding;
    private readonly Dictionary<string, NicPort> _nics = new(StringComparer.Ordinal);
    private readonly Pipeline.Firewall.PolicyCompiler _compiler = new();
    private readonly ushort[] _incarnations = new ushort[PortHandles.Count];

    /// <summary>The tap device hotplugged as the underlay when EAL found no port, or null.</summary>
    private readonly string? _fallbackDevice;

    /// <summary>What the underlay carries (<see cref="UnderlayMtu"/>), read once at start.</summary>
    private readonly int _underlayMtu;
    private int _deviceCounter;
    private long _tablesVersion;
    private PacketThreadStats? _statsBaseline;
    private bool _disposed;

    private DpdkDataPath(DataPathOptions options, Serilog.ILogger log, string filePrefix, string? runtimeDir,
        nint pool, ushort underlay, int maxPorts, PacketThread thread, UnderlayFlooding flooding, string? fallbackDevice, int underlayMtu)
    {
        _underlayMtu = underlayMtu;
        _fallbackDevice = fallbackDevice;
        _flooding = flooding;
        _options = options;
        _log = log;
        _filePrefix = filePrefix;
        _runtimeDir = runtimeDir;
        _pool = pool;
        _underlay = underlay;
        _maxPorts = maxPorts;
        _thread = thread;
    }

    /// <summary>The EAL file prefix in use (its state lives in /var/run/dpdk/&lt;prefix&gt;).</summary>
    public string FilePrefix => _filePrefix;

    /// <summary>DPDK port id of the underlay.</summary>
    public int UnderlayPort => _underlay;

    internal PacketThread PacketThread => _thread;

    /// <summary>
    /// Initialises EAL (once per process), the mbuf pool and the underlay port, and starts the
    /// packet thread. Throws with a one-line reason when any of it fails; nothing is left behind.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    /// <exception cref="InvalidOperationException">DPDK could not be started.</exception>
    public static DpdkDataPath Start(DataPathOptions options, Serilog.ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        options = CheckOptions(options);
        var peers = UnderlaySetup.ParsePeers(options.UnderlayIp, options.VxlanPeers);
        UnderlaySetup.CheckRouting(options.UnderlayIp, options.UnderlayPrefixLength, options.VxlanGateway);
        Directory.CreateDirectory(options.SocketDir);

        var allowed = Libc.GetThreadAffinity();
        var control = allowed.FindAll(cpu => cpu != options.GraphCpuCore);
        if (control.Count == 0)
        {
            control = allowed; // a single CPU: everything shares it
        }
        var staticDrivers = Shim.StaticDrivers();
        string[] argv;
        string prefix;
        try
        {
            argv = EalArguments.Build(options, control, out prefix, staticDrivers);
        }
        catch (FormatException e)
        {
            throw new ArgumentException(e.Message, nameof(options), e);
        }
        log.Information("starting DPDK EAL: {EalArgs}; drivers: {Drivers}", string.Join(' ', argv),
            staticDrivers ?? "DPDK's shared plugin directory");
        DpdkEal.Initialize(argv, control);
        var runtimeDir = Shim.RuntimeDir();

        var pool = nint.Zero;
        var underlayTouched = false;
        ushort? underlayPort = null;
        string? fallbackDevice = null;
        try
        {
            var maxPorts = Shim.bf_max_ports();
            var poolSize = PoolSizeFor(maxPorts);
            pool = CreatePool(poolSize);
            log.Information("mbuf pool: {Mbufs} mbufs for the underlay and up to {Taps} tap NICs", poolSize, maxPorts - 1);
            var underlay = options.DpdkPort;
            if (DpdkPorts.Count() == 0)
            {
                underlay = AddFallbackUnderlay(prefix, argv, log);
                fallbackDevice = FallbackUnderlayDevice;
            }
            else if (underlay >= maxPorts || Shim.bf_port_next((ushort)underlay) != underlay)
            {
                throw new InvalidOperationException(
                    $"--dpdk-port {underlay} does not exist; DPDK ports: {DpdkPorts.Describe()}");
            }
            var port = (ushort)underlay;
            underlayPort = port;
            var error = DpdkPorts.Setup(port, pool, UnderlayDescriptors, UnderlayDescriptors, promiscuous: true);
            if (error is null && options.NicMtu is not null)
            {
                error = ApplyNicMtu(port, options.NicMtu);
            }
            error ??= DpdkPorts.Start(port);
            underlayTouched = true;
            if (error is not null)
            {
                throw new InvalidOperationException($"underlay {Shim.PortName(port)}: {error}");
            }
            var wakeError = VhostPorts.Initialize(runtimeDir);
            if (wakeError is not null)
            {
                log.Warning("{Error}; vhost-user NICs work, but re-adding many after removing many may stall up to a second", wakeError);
            }
            var underlayMtu = ReadUnderlayMtu(port, log);
            var underlayConfig = UnderlaySetup.BuildConfig(DpdkPorts.Mac(port), options.UnderlayIp, out var underlayError,
                options.UnderlayPrefixLength, options.VxlanGateway, underlayMtu);
            if (underlayConfig is null)
            {
                log.Warning("underlay {Device}: {Error}; no VXLAN tunnel, frames from the underlay are dropped", Shim.PortName(port), underlayError);
            }
            var thread = PacketThread.Start([port], port, pool, options.GraphCpuCore, options.GraphNice, underlayConfig,
                TimeSpan.FromSeconds(options.FdbAgeingSeconds), FirewallSettingsOf(options), log);
            log.Information("data path started: underlay {Device} (port {Port}), packet thread on CPU {Cpu} at nice {Nice}, lcore {Lcore}",
                Shim.PortName(port), port, thread.PinnedCpu, thread.Nice, thread.Lcore);
            // A loopback VTEP address (the embedded default's 127.0.0.1) cannot be reached by
            // another host: no group to join, floods stay on this host.
            var flooding = underlayConfig is null ? UnderlayFlooding.None
                : peers.Count > 0 ? UnderlayFlooding.HeadEnd(peers)
                : IPAddress.IsLoopback(IPAddress.Parse(options.UnderlayIp)) ? UnderlayFlooding.None
                : UnderlayFlooding.Multicast(underlayConfig.HasIpv4);
            log.Information("VXLAN flooding: {Flooding}", flooding);
            var dataPath = new DpdkDataPath(options, log, prefix, runtimeDir, pool, port, maxPorts, thread, flooding, fallbackDevice, underlayMtu);
            dataPath.StartUnderlayCapture();
            return dataPath;
        }
        catch
        {
            VhostPorts.Shutdown();
            if (fallbackDevice is not null && underlayPort is { } added)
            {
                DpdkPorts.DestroyVdev(added, fallbackDevice);
            }
            else if (underlayTouched && underlayPort is { } given)
            {
                DpdkPorts.StopAndClose(given);
            }
            if (pool != nint.Zero)
            {
                Shim.bf_mempool_free(pool);
            }
            _ = Shim.bf_eal_cleanup();
            RemoveRuntimeDir(runtimeDir, prefix);
            throw;
        }
    }

    /// <inheritdoc/>
    public string? Validate(DataPathNic nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        var rule = NicPortRules.Check(nic, _options.SocketDir);
        if (rule is not null)
        {
            return rule;
        }
        lock (_gate)
        {
            var ours = _nics.TryGetValue(nic.Id, out var current) ? current : null;
            if (nic.Type == NicType.Tap && Directory.Exists("/sys/class/net/" + nic.Id)
                && ours?.Nic.Type != NicType.Tap)
            {
                return $"NIC '{nic.Id}': a network interface with that name already exists on this host";
            }
            if (nic.Type == NicType.VhostUserServer)
            {
                var path = PathOf(nic);
                if (Shim.IsSocket(path) == 0)
                {
                    return $"NIC '{nic.Id}': '{path}' exists and is not a socket; remove it or choose another id";
                }
            }
        }
        return null;
    }

    /// <inheritdoc/>
    public string PathOf(DataPathNic nic)
    {
        ArgumentNullException.ThrowIfNull(nic);
        return nic.Type switch
        {
            NicType.VhostUserServer => nic.SocketPath ?? NicPortRules.SocketPath(_options.SocketDir, nic.Id),
            NicType.Tap => nic.Id,
            _ => string.Empty,
        };
    }

    /// <inheritdoc/>
    public int NicCapacity(NicType type)
    {
        switch (type)
        {
            case NicType.VhostUserServer:
                return VhostPorts.NicCapacity;
            case NicType.Bench:
                return PortHandles.BenchSlots;
            default:
                // Every ethdev port not taken by a tap NIC (the underlay, a fallback device) stays taken.
                lock (_gate)
                {
                    var taps = _nics.Values.Count(p => p.Nic.Type == NicType.Tap);
                    return Math.Max(0, _maxPorts - (DpdkPorts.Count() - taps));
                }
        }
    }

    /// <summary>Why no more vhost-user NIC can be made when <paramref name="existing"/> exist.</summary>
    internal static string CapacityError(int existing) =>
        $"{existing} vhost-user NICs exist, the most this data path serves: DPDK 22.11's vhost library watches at most "
        + $"{VhostPorts.LibraryCapacity} listening sockets and guest connections together, so {VhostPorts.NicCapacity} NICs "
        + "with their guests connected";

    /// <inheritdoc/>
    public string NewSocketPath(string nicId) => NicPortRules.NewSocketPath(_options.SocketDir, nicId);

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> Reconcile(DesiredDataPath desired)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var wanted = new Dictionary<string, DataPathNic>(StringComparer.Ordinal);
            // Ids are unique: the NICs come from a configuration keyed by id.
            foreach (var nic in desired.Nics)
            {
                // A NIC whose port stays as it is was valid when made; re-checking it would cost
                // a stat per NIC on every commit.
                var keeps = _nics.TryGetValue(nic.Id, out var current) && !NeedsNewPort(current.Nic, nic);
                var invalid = keeps ? null : Validate(nic);
                if (invalid is not null)
                {
                    errors[nic.Id] = invalid;
                    continue;
                }
                wanted.Add(nic.Id, nic);
            }

            var removed = new List<NicPort>();
            foreach (var port in _nics.Values)
            {
                if (!wanted.TryGetValue(port.Nic.Id, out var nic) || NeedsNewPort(port.Nic, nic))
                {
                    removed.Add(port);
                }
            }
            if (removed.Count > 0)
            {
                foreach (var port in removed)
                {
                    _nics.Remove(port.Nic.Id);
                }
                PublishMetricsPorts();
                // Neither the ports polled nor the switching tables may name a removed port once
                // the packet thread is quiescent.
                _thread.PublishTables(BuildTables(new Dictionary<string, string>()));
                _thread.PublishCaptures(CaptureRings());
                _thread.Publish(PolledPorts());
                _thread.PublishBenches(BenchPorts());
                PacketThread.WaitQuiescent();
                foreach (var port in removed)
                {
                    Destroy(port);
                }
            }

            var socketsMade = false;
            foreach (var nic in wanted.Values)
            {
                if (_nics.TryGetValue(nic.Id, out var kept))
                {
                    _nics[nic.Id] = kept with { Nic = nic };
                    continue;
                }
                var (created, error) = Create(nic);
                if (created is null)
                {
                    errors[nic.Id] = error!;
                    _log.Warning("NIC {Nic}: {Error}", nic.Id, error);
                    continue;
                }
                _nics.Add(nic.Id, created);
                socketsMade |= created.IsVhost;
            }
            // The firewall first: a new port must never be reached before its filter exists.
            _thread.PublishPolicy(CompileFirewall(desired));
            _thread.PublishTables(BuildTables(errors));
            ReconcileCaptures();
            _thread.PublishBenches(BenchPorts());
            _thread.Publish(PolledPorts());
            PublishMetricsPorts();
            if (socketsMade)
            {
                VhostPorts.Kick();
            }
        }
        return errors;
    }

    /// <inheritdoc/>
    public NicCounters? CountersOf(string nicId)
    {
        lock (_gate)
        {
            if (_disposed || !_nics.TryGetValue(nicId, out var port))
            {
                return null;
            }
            var filterDrops = _thread.FilterDropsOf(port.Handle);
            return CountersOf(port.Handle) with
            {
                FilterDrops = filterDrops.Count == 0 ? null : filterDrops,
                Trace = TraceOf(port),
                Bench = port.Bench is { } bench ? BenchCountersOf(port.Nic, bench.Probe) : null,
            };
        }
    }

    /// <inheritdoc/>
    public string GraphDot()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var underlay = new DataPathDot.Underlay(Shim.PortName(_underlay) ?? "?", _underlay, _options.UnderlayIp,
                (ushort)_underlayMtu, DpdkPorts.Mac(_underlay), DpdkPorts.Stats(_underlay), CountersOf(_underlay), UnderlayTrace());
            var nics = new List<DataPathDot.Nic>(_nics.Count);
            foreach (var port in _nics.Values.OrderBy(p => p.Nic.Id, StringComparer.Ordinal))
            {
                var state = port.IsVhost
                    ? VhostPorts.State(PortHandles.VhostSlotOf(port.Handle))?.Describe() ?? "slot state unavailable"
                    : port.Bench is { } bench ? $"probe sent {bench.Probe.Sent}, received {bench.Probe.Received}"
                    : "kernel tap";
                nics.Add(new DataPathDot.Nic(port, CountersOf(port.Handle) with { Trace = TraceOf(port) }, state));
            }
            var drops = new List<(string, ulong)>();
            foreach (var reason in Enum.GetValues<Pipeline.DropReason>())
            {
                var frames = _thread.Drops[reason];
                if (reason != Pipeline.DropReason.None && frames != 0)
                {
                    drops.Add((Pipeline.DropReasons.Name(reason), frames));
                }
            }
            return DataPathDot.Render(underlay, nics, _thread.Lcore, _thread.PinnedCpu, _filePrefix, drops, _tablesVersion);
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// A clear takes the current totals as the baseline later readings are taken off
    /// (<see cref="PacketThreadStats.Since"/>): the packet thread's counters are never written by
    /// another thread, so clearing needs neither a lock nor a handshake with it.
    /// </remarks>
    public PacketThreadStats ThreadStats(bool clear)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var total = ReadThreadStats();
            var interval = _statsBaseline is null ? total : total.Since(_statsBaseline);
            if (clear)
            {
                _statsBaseline = total;
            }
            return interval;
        }
    }

    /// <summary>Stops the packet thread, removes every port and socket, and cleans EAL up.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            // First: once the thread is offline, nothing (not even the vhost destroy_device
            // callback) waits for it, and no burst touches a port being closed.
            _thread.Dispose();
            StopCaptures();
            foreach (var port in _nics.Values)
            {
                Destroy(port);
            }
            _nics.Clear();
            VhostPorts.Shutdown();
            var error = _fallbackDevice is null ? DpdkPorts.StopAndClose(_underlay) : DpdkPorts.DestroyVdev(_underlay, _fallbackDevice);
            if (error is not null)
            {
                _log.Warning("underlay: {Error}", error);
            }
            Shim.bf_mempool_free(_pool);
            var ret = Shim.bf_eal_cleanup();
            if (ret < 0)
            {
                _log.Warning("DPDK EAL cleanup: {Error}", Shim.Error(ret));
            }
            RemoveRuntimeDir(_runtimeDir, _filePrefix);
            _log.Information("data path stopped");
        }
    }

    /// <summary>
    /// The packet thread's totals since it started: its clock ticks as TSC cycles at DPDK's rate
    /// (or as ticks at the clock's own rate when DPDK does not know the TSC's), its drops by reason.
    /// </summary>
    private PacketThreadStats ReadThreadStats()
    {
        var loop = _thread.ReadLoopCounters();
        var hz = Shim.bf_tsc_hz();
        var drops = new List<DropCount>();
        foreach (var reason in Enum.GetValues<Pipeline.DropReason>())
        {
            var frames = _thread.Drops[reason];
            if (reason != Pipeline.DropReason.None && frames != 0)
            {
                drops.Add(new DropCount(Pipeline.DropReasons.Name(reason), frames));
            }
        }
        var ct = _thread.Conntrack;
        return new PacketThreadStats(_thread.Lcore, _thread.PinnedCpu, loop.Rounds, loop.BusyRounds, loop.Packets, loop.Bursts,
            LoopCounters.ToCycles(loop.BusyTicks, hz, Stopwatch.Frequency), LoopCounters.ToCycles(loop.IdleTicks, hz, Stopwatch.Frequency),
            hz != 0 ? hz : (ulong)Stopwatch.Frequency, drops,
            new ConntrackStats(ct.Entries, ct.Capacity, ct.Opened, ct.Expired, _thread.Policy.Version),
            PollGapsInUnits(loop.PollGaps));
    }

    /// <summary>
    /// The loop's histogram in <see cref="PacketThreadStats.PollGapUnitMicroseconds"/> buckets. Its buckets
    /// are powers of two of 1 024 clock ticks: the same when the clock counts nanoseconds
    /// (Linux); otherwise each round is re-bucketed by its bucket's lower bound in nanoseconds.
    /// </summary>
    private static ulong[] PollGapsInUnits(ulong[] gaps)
    {
        if (Stopwatch.Frequency == 1_000_000_000)
        {
            return gaps;
        }
        var result = new ulong[gaps.Length];
        for (var k = 0; k < gaps.Length; k++)
        {
            var lowerTicks = k == 0 ? 0 : LoopCounters.GapBucketLimitTicks(k - 1);
            var lowerNanos = (ulong)((UInt128)lowerTicks * 1_000_000_000 / (ulong)Stopwatch.Frequency);
            result[LoopCounters.GapBucket(lowerNanos)] += gaps[k];
        }
        return result;
    }

    /// <summary>A type, MAC or path change needs a new device; other fields are read from the record.</summary>
    private bool NeedsNewPort(DataPathNic current, DataPathNic wanted) =>
        current.Type != wanted.Type || !string.Equals(current.Mac, wanted.Mac, StringComparison.OrdinalIgnoreCase)
        || !string.Equals(PathOf(current), PathOf(wanted), StringComparison.Ordinal) || current.Bench != wanted.Bench;

    /// <summary>
    /// The packet thread's counters of a handle; for an ethdev port, frames the device itself
    /// missed or found in error are drops too.
    /// </summary>
    private NicCounters CountersOf(ushort handle)
    {
        var c = _thread.CountersOf(handle);
        if (PortHandles.IsEthdev(handle) && DpdkPorts.Stats(handle) is { } s)
        {
            c = c with { Drops = c.Drops + s.IMissed + s.IErrors };
        }
        return c;
    }

    private (NicPort? Port, string? Error) Create(DataPathNic nic)
    {
        var path = PathOf(nic);
        NicPort port;
        if (nic.Type == NicType.VhostUserServer)
        {
            var existing = _nics.Values.Count(p => p.IsVhost);
            if (existing >= VhostPorts.NicCapacity)
            {
                // Refused at once: asking the library would cost up to a second per NIC.
                return (null, $"NIC '{nic.Id}': {CapacityError(existing)}");
            }
            var slot = VhostPorts.Create(path, offerTso: !_options.NoOffload);
            if (slot < 0)
            {
                var vhosts = _nics.Values.Where(p => p.IsVhost).ToList();
                var connected = vhosts.Count(p => VhostPorts.State(PortHandles.VhostSlotOf(p.Handle)) is { Connected: true });
                return (null, $"NIC '{nic.Id}': {VhostPorts.CreateError(path, slot, vhosts.Count, connected)}");
            }
            var handle = PortHandles.OfVhostSlot(slot);
            port = new NicPort(nic, handle, $"vhost-user slot {slot}", path, NextZone(handle));
        }
        else if (nic.Type == NicType.Bench)
        {
            var slot = FreeBenchSlot();
            if (slot < 0)
            {
                return (null, $"NIC '{nic.Id}': no BENCH slot left: a host has at most {PortHandles.BenchSlots} BENCH NICs");
            }
            var handle = PortHandles.OfBenchSlot(slot);
            var zone = NextZone(handle);
            port = new NicPort(nic, handle, $"bench slot {slot}", path, zone, new BenchPort(new Pipeline.Bench.BenchProbe(BenchConfigOf(nic, zone))));
        }
        else
        {
            if (DpdkPorts.Count() >= _maxPorts)
            {
                return (null, $"no DPDK port left for tap NIC '{nic.Id}': this DPDK build allows {_maxPorts} ethdev ports, "
                    + "shared by the underlay and every tap NIC (vhost-user NICs do not use one)");
            }
            var device = NextDeviceName("net_tap");
            var args = $"iface={nic.Id},mac={nic.Mac.ToLowerInvariant()}";
            var (id, error) = DpdkPorts.CreateVdev(device, args, _pool, TapRxDescriptors, TapTxDescriptors);
            if (error is not null)
            {
                return (null, $"NIC '{nic.Id}': {error}");
            }
            port = new NicPort(nic, id, device, path, NextZone(id));
        }
        _thread.ResetCounters(port.Handle);
        _log.Information("NIC {Nic}: {Device} (port handle {Handle}) at {Path}", nic.Id, port.Device, port.Handle, path);
        return (port, null);
    }

    /// <summary>Removes a port the packet thread no longer polls.</summary>
    private void Destroy(NicPort port)
    {
        if (port.Bench is { } bench)
        {
            bench.FreeQueued();
            _log.Information("NIC {Nic}: {Device} removed", port.Nic.Id, port.Device);
            return;
        }
        var error = port.IsVhost
            ? VhostPorts.Destroy(PortHandles.VhostSlotOf(port.Handle), port.Path)
            : DpdkPorts.DestroyVdev(port.Handle, port.Device);
        if (error is not null)
        {
            _log.Warning("NIC {Nic}: {Error}", port.Nic.Id, error);
        }
        // The vhost library unlinks its socket; this covers an unregistration that failed.
        if (port.Nic.Type == NicType.VhostUserServer && Shim.IsSocket(port.Path) == 1)
        {
            File.Delete(port.Path);
        }
        _log.Information("NIC {Nic}: {Device} removed", port.Nic.Id, port.Device);
    }

    /// <summary>A device name like net_tap3 that no port uses (names given in --dpdk-args are skipped).</summary>
    private string NextDeviceName(string driver)
    {
        while (true)
        {
            var name = driver + (++_deviceCounter).ToString(CultureInfo.InvariantCulture);
            if (Shim.PortByName(name) < 0)
            {
                return name;
            }
        }
    }

    /// <summary>The switching tables of the NICs that have a port now; errors name NICs left out.</summary>
    private Pipeline.SwitchTables BuildTables(Dictionary<string, string> errors) =>
        LocalSwitchTables.Build(_nics.Values.Select(p => (p.Handle, p.Nic)), ++_tablesVersion, errors, _flooding);

    private ushort[] PolledPorts()
    {
        var handles = new ushort[_nics.Count + 1];
        handles[0] = _underlay;
        var i = 1;
        foreach (var port in _nics.Values)
        {
            handles[i++] = port.Handle;
        }
        return handles;
    }

    /// <summary>
    /// The seed's fallback ("if no port is found, a (slow) tap interface is created"): EAL
    /// arguments that name no device, e.g. memory options only, still give a working switch, on
    /// the tap underlay the embedded default would have made. Whatever --dpdk-port said, this
    /// is the underlay then: there is no other port.
    /// </summary>
    private static ushort AddFallbackUnderlay(string filePrefix, string[] argv, Serilog.ILogger log)
    {
        var iface = EalArguments.UnderlayTapFor(filePrefix);
        var (port, error) = DpdkPorts.AddVdev(FallbackUnderlayDevice, "iface=" + iface);
        if (error is not null)
        {
            throw new InvalidOperationException($"the EAL arguments name no DPDK port, and the tap underlay that replaces one failed: {error}");
        }
        log.Warning("no DPDK port in the EAL arguments ({EalArgs}): the underlay is the tap interface {Interface} (DPDK port {Port}, {Device}), "
            + "which is slow; name a device in --dpdk-args for production", string.Join(' ', argv.Skip(1)), iface, port, FallbackUnderlayDevice);
        return port;
    }

    /// <summary>
    /// Applies --nic-mtu to the underlay port (<see cref="UnderlayMtu.Plan"/>): through ethdev when
    /// it accepts the value, on the port's Linux interface when only ethdev's cap is in the way.
    /// </summary>
    private static string? ApplyNicMtu(ushort port, string requested)
    {
        if (DpdkPorts.Backing(port) is not { } backing)
        {
            return $"cannot read what port {port} runs on to set its MTU";
        }
        var plan = UnderlayMtu.Plan(backing, requested);
        if (plan.Error is not null)
        {
            return plan.Error;
        }
        return plan.ViaEthdev is { } mtu ? DpdkPorts.SetMtu(port, mtu) : DpdkPorts.SetInterfaceMtu(backing.Interface!, plan.ViaInterface!.Value);
    }

    /// <summary>
    /// What the underlay carries (<see cref="UnderlayMtu.Effective"/>: a Linux interface's own MTU,
    /// a physical port's ethdev MTU), within what VXLAN encapsulation accepts; the default when
    /// DPDK cannot say.
    /// </summary>
    private static int ReadUnderlayMtu(ushort port, Serilog.ILogger log)
    {
        if (DpdkPorts.Backing(port) is not { } backing)
        {
            log.Warning("underlay port {Port}: cannot read its MTU; assuming {Mtu}", port, Pipeline.UnderlayConfig.DefaultMtu);
            return Pipeline.UnderlayConfig.DefaultMtu;
        }
        var mtu = UnderlayMtu.Effective(backing, backing.Interface is null ? null : DpdkPorts.InterfaceMtu(backing.Interface), out var warning);
        if (warning is not null)
        {
            log.Warning("underlay {Device}: {Warning}", Shim.PortName(port), warning);
        }
        var clamped = Math.Clamp(mtu, 576, 9216);
        log.Information("underlay MTU {Mtu} ({Source}): frames from guests up to {V4} bytes of IP (IPv4 VTEP) or {V6} (IPv6) are encapsulated whole; "
            + "larger ones are answered with ICMP or fragmented (README, Pipeline/Vxlan/PathMtu.cs)",
            clamped, backing.Interface is null ? $"ethdev, {backing.Driver}" : $"interface {backing.Interface}, {backing.Driver}",
            Pipeline.PathMtu.InnerMtu(clamped, v4Underlay: true), Pipeline.PathMtu.InnerMtu(clamped, v4Underlay: false));
        return clamped;
    }

    private static DataPathOptions CheckOptions(DataPathOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.SocketDir))
        {
            throw new ArgumentException("the socket directory is empty", nameof(options));
        }
        if (!IPAddress.TryParse(options.UnderlayIp, out _))
        {
            throw new ArgumentException($"underlay IP '{options.UnderlayIp}' is not an IPv4 or IPv6 address", nameof(options));
        }
        if (options.NicMtu is not null && options.NicMtu != "max"
            && (!ushort.TryParse(options.NicMtu, NumberStyles.None, CultureInfo.InvariantCulture, out var mtu) || mtu < 68))
        {
            throw new ArgumentException($"NIC MTU '{options.NicMtu}' must be a number from 68 to 65535 or \"max\"", nameof(options));
        }
        if (options.GraphCpuCore is < 0 or >= Libc.MaxCpus)
        {
            throw new ArgumentException($"graph CPU core {options.GraphCpuCore} must be from 0 to {Libc.MaxCpus - 1}", nameof(options));
        }
        if (options.GraphNice is < -20 or > 19)
        {
            throw new ArgumentException($"packet thread nice value {options.GraphNice} must be from -20 to 19", nameof(options));
        }
        if (options.FdbAgeingSeconds is < 1 or > 86_400)
        {
            throw new ArgumentException($"FDB ageing {options.FdbAgeingSeconds} s must be from 1 to 86400", nameof(options));
        }
        if (options.DpdkPort is < 0 or > ushort.MaxValue)
        {
            throw new ArgumentException($"DPDK port {options.DpdkPort} is not a port number", nameof(options));
        }
        var conntrack = DataPathOptions.CheckConntrack(options.ConntrackMax, options.ConntrackTimeouts);
        if (conntrack is not null)
        {
            throw new ArgumentException(conntrack, nameof(options));
        }
        if (options.TraceMaxFileBytes < DataPathOptions.MinTraceMaxFileBytes || options.TraceFiles is < 1 or > DataPathOptions.MaxTraceFiles
            || options.TraceSnapLength is < 1 or > DataPathOptions.MaxTraceSnapLength)
        {
            throw new ArgumentException($"packet trace limits out of range: files of at least {DataPathOptions.MinTraceMaxFileBytes} bytes, "
                + $"1 to {DataPathOptions.MaxTraceFiles} files, a snap length of 1 to {DataPathOptions.MaxTraceSnapLength}", nameof(options));
        }
        return options with { SocketDir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.SocketDir)) };
    }

    private static unsafe nint CreatePool(uint size)
    {
        nint pool;
        fixed (byte* name = Shim.Utf8Z("bf_mbufs"))
        {
            var ret = Shim.bf_mempool_create(name, size, &pool);
            if (ret < 0)
            {
                throw new InvalidOperationException($"cannot create a pool of {size} mbufs: {Shim.Error(ret)} (give EAL more memory with -m)");
            }
        }
        return pool;
    }

    /// <summary>
    /// EAL leaves /var/run/dpdk/&lt;prefix&gt; behind even after rte_eal_cleanup; remove it, but
    /// only when it really is this process's directory.
    /// </summary>
    private static void RemoveRuntimeDir(string? runtimeDir, string prefix)
    {
        if (runtimeDir is null || Path.GetFileName(runtimeDir) != prefix || !Directory.Exists(runtimeDir))
        {
            return;
        }
        try
        {
            Directory.Delete(runtimeDir, recursive: true);
        }
        catch (IOException)
        {
            // Another process with the same prefix may hold it; leaving it is harmless.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
