namespace Butterfly.Api.Zmq.Options;

/// <summary>
/// The daemon's settings after the command line and the INI file have been merged and
/// checked (see <see cref="OptionsLoader"/>). Command-line values win over the file.
/// </summary>
internal sealed record DaemonOptions
{
    public const string DefaultEndpoint = Butterfly.Wire.WireProtocol.DefaultServerEndpoint;
    public const string DefaultLogLevel = "error";
    public const string DefaultEventStore = "file:/var/lib/butterfly/events";
    public const int DefaultFdbAgeingSeconds = 300;
    public const double DefaultStoreTimeoutSeconds = 5;

    /// <summary>VXLAN endpoint address of this host (IPv4 or IPv6), in canonical text.</summary>
    public required string Ip { get; init; }

    /// <summary>The on-link prefix length of <see cref="Ip"/> on the underlay (-i IP/LEN), or 0 when not given.</summary>
    public int IpPrefixLength { get; init; }

    /// <summary>The ZeroMQ endpoint the API binds (tcp:// only).</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>Where vhost-user sockets are made.</summary>
    public required string SocketDir { get; init; }

    /// <summary>none, error, warning, info or debug.</summary>
    public string LogLevel { get; init; } = DefaultLogLevel;

    /// <summary>The log level was given on the command line (a SIGHUP reload of the INI file then leaves it alone).</summary>
    public bool LogLevelFromCommandLine { get; init; }

    /// <summary>Log to stderr instead of syslog.</summary>
    public bool NoSyslog { get; init; }

    /// <summary>CPU of the packet thread.</summary>
    public int GraphCpuCore { get; init; }

    /// <summary>Nice value of the packet thread.</summary>
    public int GraphNice { get; init; } = Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultGraphNice;

    /// <summary>Capture the underlay to pcapng and make per-NIC tracing the default.</summary>
    public bool PacketTrace { get; init; }

    /// <summary>Where the underlay is captured with <see cref="PacketTrace"/>, or null for the default.</summary>
    public string? PacketTraceUnderlay { get; init; }

    /// <summary>A capture file is rotated before it grows past this many bytes.</summary>
    public long PacketTraceMaxSize { get; init; } = Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultTraceMaxFileBytes;

    /// <summary>Capture files kept per port.</summary>
    public int PacketTraceFiles { get; init; } = Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultTraceFiles;

    /// <summary>Most bytes of each frame captured.</summary>
    public int PacketTraceSnaplen { get; init; } = Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultTraceSnapLength;

    /// <summary>Raw DPDK EAL arguments, or null for the data path's defaults.</summary>
    public string? DpdkArgs { get; init; }

    /// <summary>Which DPDK port is the underlay.</summary>
    public int DpdkPort { get; init; }

    /// <summary>Underlay MTU ("max" or a number), or null to leave it unchanged.</summary>
    public string? NicMtu { get; init; }

    /// <summary>Head-end replication peers (VTEP addresses), in the order given; empty when none.</summary>
    public IReadOnlyList<string> VxlanPeers { get; init; } = [];

    /// <summary>Router towards VTEPs outside the <see cref="IpPrefixLength"/> prefix, or null (every VTEP is on-link).</summary>
    public string? VxlanGateway { get; init; }

    /// <summary>Seconds a learned remote MAC lives without traffic from it.</summary>
    public int FdbAgeingSeconds { get; init; } = DefaultFdbAgeingSeconds;

    /// <summary>Do not offer TSO to guests.</summary>
    public bool NoOffload { get; init; }

    /// <summary>Most tracked connections at once, all NICs together.</summary>
    public int ConntrackMax { get; init; } = Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultConntrackMax;

    /// <summary>Conntrack idle timeouts, <c>name=seconds,…</c>, or null for the defaults.</summary>
    public string? ConntrackTimeouts { get; init; }

    /// <summary>A rule change cuts established connections the new rules refuse.</summary>
    public bool ConntrackCutEstablished { get; init; }

    /// <summary>Path of the base64 key file; when set only encrypted requests are accepted.</summary>
    public string? KeyFile { get; init; }

    /// <summary>The daemon's CURVE key pair file (--curve-key); when set the API runs CURVE.</summary>
    public string? CurveKeyFile { get; init; }

    /// <summary>The allowed client keys (--curve-allow): a directory of certificates or a file of keys.</summary>
    public string? CurveAllowPath { get; init; }

    /// <summary>This host's id in an event store a fleet shares (--host-id; the host name by default).</summary>
    public string HostId { get; init; } = "";

    /// <summary>Event store destination: <c>file:DIR</c> or a PostgreSQL connection string.</summary>
    public string EventStore { get; init; } = DefaultEventStore;

    /// <summary>How long a write may wait for the event store before it fails (--store-timeout).</summary>
    public TimeSpan StoreTimeout { get; init; } = TimeSpan.FromSeconds(DefaultStoreTimeoutSeconds);

    /// <summary>Where Prometheus metrics are served (--metrics-endpoint), or null: no metrics.</summary>
    public Butterfly.Api.Zmq.Metrics.MetricsEndpoint? MetricsEndpoint { get; init; }

    /// <summary>The INI file the settings were read from, if any.</summary>
    public string? ConfigFile { get; init; }
}
