using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

/// <summary>
/// One real <see cref="DpdkDataPath"/> for the whole test assembly: EAL can be initialised only
/// once per process. It runs with the default EAL arguments (no hugepages, a tap underlay), whose
/// file prefix and tap name derive from a fresh temporary socket directory, so nothing is shared
/// with a daemon or another test run. Needs root (taps, /var/run/dpdk).
/// </summary>
public sealed class DataPathFixture : IDisposable
{
    public DataPathFixture()
    {
        SocketDir = CreateSocketDir();
        GraphCpu = Environment.ProcessorCount > 1 ? 1 : 0;
        Options = new DataPathOptions(SocketDir, DpdkArgs: null, GraphCpu, DpdkPort: 0, NicMtu: "1400",
            PacketTrace: false, NoOffload: false, UnderlayIp: "127.0.0.1");
        DataPath = DpdkDataPath.Start(Options, new Serilog.LoggerConfiguration().CreateLogger());
    }

    public string SocketDir { get; }

    public int GraphCpu { get; }

    /// <summary>A CPU for traffic generators: the packet thread is on CPU 1 whenever there are two.</summary>
    public static int GeneratorCpu => 0;

    public DataPathOptions Options { get; }

    public DpdkDataPath DataPath { get; }

    public string UnderlayTap => EalArguments.UnderlayTapFor(DataPath.FilePrefix);

    /// <summary>
    /// A NIC of VNI 42; without <paramref name="mac"/>, one derived from the id, so NICs of one
    /// test never share a MAC in the VNI. With bypass_filtering: these tests are about ports and
    /// switching, and their generators (testpmd, raw sockets) send from addresses of their own;
    /// the firewall has tests of its own (Pipeline/Firewall, the topology tests).
    /// </summary>
    public static DataPathNic Nic(string id, NicType type, string? mac = null) => new(id, type, mac ?? MacOf(id), 42, BypassFiltering: true);

    /// <summary>A locally administered unicast MAC that depends only on <paramref name="id"/>.</summary>
    public static string MacOf(string id)
    {
        var hash = 2166136261u; // FNV-1a: deterministic, so a test's MACs are the same every run
        foreach (var c in id)
        {
            hash = (hash ^ c) * 16777619u;
        }
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"02:bf:{hash >> 24:x2}:{(hash >> 16) & 0xff:x2}:{(hash >> 8) & 0xff:x2}:{hash & 0xff:x2}");
    }

    /// <summary>
    /// Polls the counters of <paramref name="nicId"/> until <paramref name="until"/> holds or 30 s
    /// pass; <paramref name="context"/> (e.g. a generator's log) explains a timeout.
    /// </summary>
    public static NicCounters WaitForCounters(IDataPath dataPath, string nicId, Func<NicCounters, bool> until, Func<string> context)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        NicCounters? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = dataPath.CountersOf(nicId);
            if (last is { } c && until(c))
            {
                return c;
            }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"NIC {nicId}: counters {last} after 30 s\n{context()}");
    }

    /// <summary>
    /// A fresh directory on tmpfs (/dev/shm) when there is one, as /run is on a normal host:
    /// on this test machine / and /tmp are ext4 without a journal, where creating an inode
    /// scans every recently deleted one of its group, so binding 1 000 sockets right after
    /// removing 1 000 others costs the kernel ≈ 0.7 s and would drown what the tests measure.
    /// </summary>
    private static string CreateSocketDir()
    {
        if (!Directory.Exists("/dev/shm"))
        {
            return Directory.CreateTempSubdirectory("bf-dpdk-test-").FullName;
        }
        var dir = Path.Combine("/dev/shm", "bf-dpdk-test-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        DataPath.Dispose();
        Directory.Delete(SocketDir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class DataPathCollection : ICollectionFixture<DataPathFixture>
{
    public const string Name = "dpdk data path";
}

/// <summary>Reconciles a data path to a configuration holding just these NICs (no IP, no security group).</summary>
internal static class DataPathReconcile
{
    private static long _version;

    public static IReadOnlyDictionary<string, string> Reconcile(this DpdkDataPath dataPath, IReadOnlyList<DataPathNic> nics)
    {
        var state = Domain.Configuration.ConfigurationState.From(
            nics.Select(n => new Domain.Nics.NicSpec(n.Id, n.Mac, n.Vni, n.Bench?.Ip is { } ip ? [ip] : [], [], BypassFiltering: n.BypassFiltering,
                Type: n.Type, SocketPath: n.SocketPath, PacketTrace: n.TracePath is not null, PacketTracePath: n.TracePath, BenchType: n.Bench?.Kind,
                BenchDestIp: n.Bench?.DestinationIp, BenchDestMac: n.Bench?.DestinationMac)), []);
        return dataPath.Reconcile(new DesiredDataPath(state, Interlocked.Increment(ref _version)));
    }
}
