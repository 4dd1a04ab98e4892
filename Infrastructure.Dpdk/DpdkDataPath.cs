using System.Globalization;
using System.Net;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>A NIC that has a DPDK port: the NIC as last reconciled, its device name, port id and path.</summary>
internal sealed record NicPort(DataPathNic Nic, string Device, ushort Port, string Path);

/// <summary>
/// The DPDK data path of butterflyd: EAL, one mbuf pool, the underlay port, one port per NIC
/// (vhost-user server or kernel tap, hotplugged) and the packet thread polling them all.
/// This stage receives and counts; frames are dropped until the switch stage lands.
/// Every public member is for the control thread (calls are serialised by a lock).
/// </summary>
public sealed class DpdkDataPath : IDataPath, IDisposable
{
    /// <summary>mbufs in the pool: enough for the rings and bursts, small enough for --no-huge.</summary>
    private const uint PoolSize = 16383;
    private const ushort UnderlayDescriptors = 1024;
    private const ushort VhostDescriptors = 1024;

    /// <summary>The tap PMD fills every RX descriptor with an mbuf up front; 64 cover a 64 KiB frame.</summary>
    private const ushort TapRxDescriptors = 64;
    private const ushort TapTxDescriptors = 256;

    private readonly Lock _gate = new();
    private readonly DataPathOptions _options;
    private readonly Serilog.ILogger _log;
    private readonly string _filePrefix;
    private readonly string? _runtimeDir;
    private readonly nint _pool;
    private readonly ushort _underlay;
    private readonly int _maxPorts;
    private readonly PacketThread _thread;
    private readonly Dictionary<string, NicPort> _nics = new(StringComparer.Ordinal);
    private int _deviceCounter;
    private bool _disposed;

    private DpdkDataPath(DataPathOptions options, Serilog.ILogger log, string filePrefix, string? runtimeDir,
        nint pool, ushort underlay, int maxPorts, PacketThread thread)
    {
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
        Directory.CreateDirectory(options.SocketDir);

        var allowed = Libc.GetThreadAffinity();
        var control = allowed.FindAll(cpu => cpu != options.GraphCpuCore);
        if (control.Count == 0)
        {
            control = allowed; // a single CPU: everything shares it
        }
        string[] argv;
        string prefix;
        try
        {
            argv = EalArguments.Build(options, control, out prefix);
        }
        catch (FormatException e)
        {
            throw new ArgumentException(e.Message, nameof(options), e);
        }
        log.Information("starting DPDK EAL: {EalArgs}", string.Join(' ', argv));
        DpdkEal.Initialize(argv, control);
        var runtimeDir = Shim.RuntimeDir();

        var pool = nint.Zero;
        var underlayTouched = false;
        try
        {
            pool = CreatePool();
            var maxPorts = Shim.bf_max_ports();
            var underlay = options.DpdkPort;
            if (underlay >= maxPorts || Shim.bf_port_next((ushort)underlay) != underlay)
            {
                throw new InvalidOperationException(
                    $"--dpdk-port {underlay} does not exist; DPDK ports: {DpdkPorts.Describe()}");
            }
            var port = (ushort)underlay;
            var error = DpdkPorts.Setup(port, pool, UnderlayDescriptors, UnderlayDescriptors, promiscuous: true);
            if (error is null && options.NicMtu is not null)
            {
                error = DpdkPorts.SetMtu(port, options.NicMtu);
            }
            error ??= DpdkPorts.Start(port);
            underlayTouched = true;
            if (error is not null)
            {
                throw new InvalidOperationException($"underlay {Shim.PortName(port)}: {error}");
            }
            var thread = PacketThread.Start([port], maxPorts, options.GraphCpuCore, log);
            log.Information("data path started: underlay {Device} (port {Port}), packet thread on CPU {Cpu}, lcore {Lcore}",
                Shim.PortName(port), port, thread.PinnedCpu, thread.Lcore);
            if (options.PacketTrace)
            {
                log.Warning("--packet-trace: pcap tracing is not implemented by this data path yet; nothing is traced");
            }
            return new DpdkDataPath(options, log, prefix, runtimeDir, pool, port, maxPorts, thread);
        }
        catch
        {
            if (underlayTouched)
            {
                DpdkPorts.StopAndClose((ushort)options.DpdkPort);
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
            NicType.VhostUserServer => NicPortRules.SocketPath(_options.SocketDir, nic.Id),
            NicType.Tap => nic.Id,
            _ => string.Empty,
        };
    }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> Reconcile(IReadOnlyCollection<DataPathNic> desired)
    {
        ArgumentNullException.ThrowIfNull(desired);
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var wanted = new Dictionary<string, DataPathNic>(StringComparer.Ordinal);
            foreach (var nic in desired)
            {
                if (wanted.ContainsKey(nic.Id))
                {
                    errors[nic.Id] = $"NIC '{nic.Id}' is listed twice; the first one is kept";
                    continue;
                }
                var invalid = Validate(nic);
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
                _thread.Publish(PolledPorts());
                _thread.WaitQuiescent();
                foreach (var port in removed)
                {
                    Destroy(port);
                }
            }

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
            }
            _thread.Publish(PolledPorts());
        }
        return errors;
    }

    /// <inheritdoc/>
    public NicCounters? CountersOf(string nicId)
    {
        lock (_gate)
        {
            if (_disposed || !_nics.TryGetValue(nicId, out var port) || DpdkPorts.Stats(port.Port) is not { } s)
            {
                return null;
            }
            return new NicCounters(s.IBytes, s.OBytes, s.IPackets, s.OPackets,
                s.IMissed + s.IErrors + _thread.DroppedOf(port.Port));
        }
    }

    /// <inheritdoc/>
    public string GraphDot()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var underlay = new DataPathDot.Underlay(Shim.PortName(_underlay) ?? "?", _underlay, _options.UnderlayIp,
                DpdkPorts.Mtu(_underlay), DpdkPorts.Mac(_underlay), DpdkPorts.Stats(_underlay), _thread.DroppedOf(_underlay));
            var nics = new List<DataPathDot.Nic>();
            foreach (var port in _nics.Values.OrderBy(p => p.Nic.Id, StringComparer.Ordinal))
            {
                nics.Add(new DataPathDot.Nic(port, DpdkPorts.Stats(port.Port), _thread.DroppedOf(port.Port)));
            }
            return DataPathDot.Render(underlay, nics, _thread.Lcore, _thread.PinnedCpu, _filePrefix);
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
            _thread.Dispose();
            foreach (var port in _nics.Values)
            {
                Destroy(port);
            }
            _nics.Clear();
            var error = DpdkPorts.StopAndClose(_underlay);
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

    /// <summary>A type or MAC change needs a new device; other fields are read from the record.</summary>
    private static bool NeedsNewPort(DataPathNic current, DataPathNic wanted) =>
        current.Type != wanted.Type || !string.Equals(current.Mac, wanted.Mac, StringComparison.OrdinalIgnoreCase);

    private (NicPort? Port, string? Error) Create(DataPathNic nic)
    {
        if (DpdkPorts.Count() >= _maxPorts)
        {
            return (null, $"no DPDK port left for NIC '{nic.Id}': this DPDK build allows {_maxPorts} ports, the underlay included");
        }
        var path = PathOf(nic);
        string driver, args;
        ushort rxd, txd;
        if (nic.Type == NicType.VhostUserServer)
        {
            // A socket left by a daemon killed with -9 would make the bind fail.
            if (Shim.IsSocket(path) == 1)
            {
                File.Delete(path);
            }
            driver = "net_vhost";
            args = $"iface={path},queues=1" + (_options.NoOffload ? string.Empty : ",tso=1");
            (rxd, txd) = (VhostDescriptors, VhostDescriptors);
        }
        else
        {
            driver = "net_tap";
            args = $"iface={nic.Id},mac={nic.Mac.ToLowerInvariant()}";
            (rxd, txd) = (TapRxDescriptors, TapTxDescriptors);
        }
        var device = NextDeviceName(driver);
        var (port, error) = DpdkPorts.CreateVdev(device, args, _pool, rxd, txd);
        if (error is not null)
        {
            return (null, $"NIC '{nic.Id}': {error}");
        }
        _thread.ResetCounters(port);
        _log.Information("NIC {Nic}: {Device} port {Port} at {Path}", nic.Id, device, port, path);
        return (new NicPort(nic, device, port, path), null);
    }

    /// <summary>Removes a port the packet thread no longer polls.</summary>
    private void Destroy(NicPort port)
    {
        var error = DpdkPorts.DestroyVdev(port.Port, port.Device);
        if (error is not null)
        {
            _log.Warning("NIC {Nic}: {Error}", port.Nic.Id, error);
        }
        if (port.Nic.Type == NicType.VhostUserServer && Shim.IsSocket(port.Path) == 1)
        {
            File.Delete(port.Path);
        }
        _log.Information("NIC {Nic}: {Device} removed", port.Nic.Id, port.Device);
    }

    /// <summary>A device name like net_vhost3 that no port uses (names given in --dpdk-args are skipped).</summary>
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

    private ushort[] PolledPorts()
    {
        var ports = new ushort[_nics.Count + 1];
        ports[0] = _underlay;
        var i = 1;
        foreach (var port in _nics.Values)
        {
            ports[i++] = port.Port;
        }
        return ports;
    }

    private static DataPathOptions CheckOptions(DataPathOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.SocketDir))
        {
            throw new ArgumentException("the socket directory is empty", nameof(options));
        }
        if (options.SocketDir.AsSpan().IndexOfAny(",=[]") >= 0)
        {
            // The socket paths go into DPDK device arguments, where these characters separate values.
            throw new ArgumentException($"socket directory '{options.SocketDir}' must not contain ',', '=' or brackets", nameof(options));
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
        if (options.DpdkPort is < 0 or > ushort.MaxValue)
        {
            throw new ArgumentException($"DPDK port {options.DpdkPort} is not a port number", nameof(options));
        }
        return options with { SocketDir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.SocketDir)) };
    }

    private static unsafe nint CreatePool()
    {
        nint pool;
        fixed (byte* name = Shim.Utf8Z("bf_mbufs"))
        {
            var ret = Shim.bf_mempool_create(name, PoolSize, &pool);
            if (ret < 0)
            {
                throw new InvalidOperationException($"cannot create a pool of {PoolSize} mbufs: {Shim.Error(ret)} (give EAL more memory with -m)");
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
