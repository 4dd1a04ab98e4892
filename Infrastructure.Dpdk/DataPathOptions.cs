using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>How <see cref="DpdkDataPath.Start"/> brings up DPDK and the underlay.</summary>
/// <param name="SocketDir">Directory of the vhost-user sockets (created if missing).</param>
/// <param name="DpdkArgs">Raw EAL arguments, or null for the defaults (no hugepages, a tap underlay); arguments that give EAL no port get a tap underlay too.</param>
/// <param name="GraphCpuCore">CPU of the packet thread; EAL and the control plane keep off it.</param>
/// <param name="DpdkPort">DPDK port id of the underlay.</param>
/// <param name="NicMtu">Underlay MTU: a number, "max", or null to leave it unchanged.</param>
/// <param name="PacketTrace">Capture the underlay's frames to <paramref name="UnderlayTracePath"/> (pcapng).</param>
/// <param name="NoOffload">Do not offer TSO to vhost-user guests.</param>
/// <param name="UnderlayIp">VXLAN endpoint address of this host (IPv4 or IPv6).</param>
/// <param name="VxlanPeers">Head-end replication: the VTEPs every VNI's broadcast, multicast and unknown unicast is copied to; none: each VNI floods to its multicast group.</param>
/// <param name="UnderlayPrefixLength">On-link prefix of <paramref name="UnderlayIp"/>, or 0 when not given.</param>
/// <param name="VxlanGateway">Router towards VTEPs outside that prefix, or null: every VTEP is on-link.</param>
/// <param name="FdbAgeingSeconds">How long a learned remote MAC lives without traffic from it.</param>
/// <param name="ConntrackMax">Most tracked connections at once, all NICs together (a new flow beyond is dropped and counted).</param>
/// <param name="ConntrackTimeouts">Idle timeouts, <c>name=seconds,…</c> over the EC2-like defaults; null for the defaults.</param>
/// <param name="ConntrackCutEstablished">A rule change cuts the established connections the new rules refuse (else they idle out).</param>
/// <param name="TraceMaxFileBytes">A capture file is rotated before it grows past this.</param>
/// <param name="TraceFiles">Files kept per capture: PATH, PATH.1 … PATH.(N-1).</param>
/// <param name="TraceSnapLength">Most bytes of each frame captured.</param>
/// <param name="UnderlayTracePath">The underlay's capture with <paramref name="PacketTrace"/>; null: <see cref="DpdkDataPath.DefaultUnderlayTracePath"/>.</param>
/// <param name="GraphNice">Nice value of the packet thread, -20 to 19 (0: as the daemon's).</param>
public sealed record DataPathOptions(
    string SocketDir,
    string? DpdkArgs,
    int GraphCpuCore,
    int DpdkPort,
    string? NicMtu,
    bool PacketTrace,
    bool NoOffload,
    string UnderlayIp,
    IReadOnlyList<string>? VxlanPeers = null,
    int UnderlayPrefixLength = 0,
    string? VxlanGateway = null,
    int FdbAgeingSeconds = 300,
    int ConntrackMax = DataPathOptions.DefaultConntrackMax,
    string? ConntrackTimeouts = null,
    bool ConntrackCutEstablished = false,
    long TraceMaxFileBytes = DataPathOptions.DefaultTraceMaxFileBytes,
    int TraceFiles = DataPathOptions.DefaultTraceFiles,
    int TraceSnapLength = DataPathOptions.DefaultTraceSnapLength,
    string? UnderlayTracePath = null,
    int GraphNice = DataPathOptions.DefaultGraphNice)
{
    /// <summary>
    /// Default of <see cref="GraphNice"/>: ahead of ordinary tasks on the packet thread's CPU
    /// (they get ~10 % of it, in short slices, while it is busy), without real-time scheduling,
    /// which would starve the kernel's own per-CPU threads on a core that is not isolated.
    /// </summary>
    public const int DefaultGraphNice = -10;

    /// <summary>Default of <see cref="TraceMaxFileBytes"/>: 64 MiB.</summary>
    public const long DefaultTraceMaxFileBytes = Capture.CaptureLimits.DefaultMaxFileBytes;

    /// <summary>Smallest <see cref="TraceMaxFileBytes"/>: 64 KiB.</summary>
    public const long MinTraceMaxFileBytes = Capture.CaptureLimits.MinMaxFileBytes;

    /// <summary>Default of <see cref="TraceFiles"/>: the file being written and the one before.</summary>
    public const int DefaultTraceFiles = Capture.CaptureLimits.DefaultFiles;

    /// <summary>Largest <see cref="TraceFiles"/>.</summary>
    public const int MaxTraceFiles = Capture.CaptureLimits.MaxFiles;

    /// <summary>Default of <see cref="TraceSnapLength"/>: an mbuf's data room, so frames up to it are whole.</summary>
    public const int DefaultTraceSnapLength = Capture.CaptureLimits.DefaultSnapLength;

    /// <summary>Largest <see cref="TraceSnapLength"/>.</summary>
    public const int MaxTraceSnapLength = Pipeline.Capture.CaptureRing.MaxSnapLength;

    /// <summary>Default of <see cref="ConntrackMax"/>: 1 Mi connections (96 MiB of address space, committed as used).</summary>
    public const int DefaultConntrackMax = FirewallSettings.DefaultCapacity;

    /// <summary>Largest <see cref="ConntrackMax"/>.</summary>
    public const int MaxConntrackMax = ConnectionTable.MaxCapacity;

    /// <summary>The timeouts --conntrack-timeouts accepts with their defaults, e.g. "tcp_established=432000, udp=30, …".</summary>
    public static string DescribeConntrackTimeouts() =>
        string.Join(", ", Pipeline.Firewall.ConntrackTimeouts.Names.Select(n => $"{n.Name}={n.Seconds}"));

    /// <summary>Why these connection-tracking options are wrong, or null when they are fine.</summary>
    public static string? CheckConntrack(int max, string? timeouts)
    {
        if (max is < 1 or > ConnectionTable.MaxCapacity)
        {
            return $"--conntrack-max {max} must be from 1 to {ConnectionTable.MaxCapacity}";
        }
        _ = Pipeline.Firewall.ConntrackTimeouts.Parse(timeouts, out var error);
        return error is null ? null : "--conntrack-timeouts: " + error;
    }
}
