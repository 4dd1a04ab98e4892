namespace Butterfly.Api.Zmq.Options;

/// <summary>
/// One butterflyd option as docs/cli.md lists it: its command-line spellings, its INI key (if
/// the file may set it) and its help line. A repeatable option collects every occurrence,
/// comma-joined (its INI value is a comma-separated list). <see cref="OptionSpecs.All"/> is the single
/// table the command-line parser, the INI reader and the usage text are built from.
/// </summary>
internal sealed record OptionSpec(
    string Name,
    char? Short,
    string? ValueName,
    string Help,
    string? IniSection = null,
    string? IniKey = null,
    string? IniAlias = null,
    bool Repeatable = false)
{
    public bool TakesValue => ValueName is not null;

    public string Long => "--" + Name;

    /// <summary>How errors name the option: "-i/--ip" or "--dpdk-port".</summary>
    public string Display => Short is { } s ? $"-{s}/{Long}" : Long;
}

internal static class OptionSpecs
{
    public static readonly OptionSpec Config = new("config", 'c', "FILE", "INI file; command-line options win over it");
    public static readonly OptionSpec Ip = new("ip", 'i', "IP[/LEN]", "VXLAN endpoint address of this host, IPv4 or IPv6 (required); /LEN is its on-link underlay prefix (see --vxlan-gateway)", "general", "ip");
    public static readonly OptionSpec Endpoint = new("endpoint", 'e', "EP", $"ZeroMQ endpoint of the API (default {DaemonOptions.DefaultEndpoint})", "general", "endpoint");
    public static readonly OptionSpec SocketDir = new("socket-dir", 's', "DIR", "directory where vhost-user sockets are made (required)", "general", "socket-dir");
    public static readonly OptionSpec LogLevel = new("log-level", 'l', "LEVEL", "none, error, warning, info or debug (default error)", "general", "log-level");
    public static readonly OptionSpec NoSyslog = new("no-syslog", null, null, "log to stderr instead of syslog (the level still applies)");
    public static readonly OptionSpec GraphCpuCore = new("graph-cpu-core", 'u', "N", "CPU of the packet thread (default 0)", "general", "graph-core-id", "graph-cpu-core");
    public static readonly OptionSpec GraphNice = new("graph-nice", null, "N", $"nice value of the packet thread, -20 to 19: ahead of other tasks on its CPU while it is busy (default {Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultGraphNice}; 0: as the daemon)", "general", "graph-nice");
    public static readonly OptionSpec PacketTrace = new("packet-trace", 't', null, $"capture the underlay's frames to pcapng (--packet-trace-underlay) and make per-NIC tracing the default");
    public static readonly OptionSpec PacketTraceUnderlay = new("packet-trace-underlay", null, "FILE", $"where --packet-trace captures the underlay (default {Butterfly.Infrastructure.Dpdk.DpdkDataPath.DefaultUnderlayTracePath})", "packet-trace", "underlay-path");
    public static readonly OptionSpec PacketTraceMaxSize = new("packet-trace-max-size", null, "SIZE", "a capture file is rotated before it grows past SIZE bytes (K, M, G suffixes; default 64M, at least 64K)", "packet-trace", "max-size");
    public static readonly OptionSpec PacketTraceFiles = new("packet-trace-files", null, "N", $"capture files kept per NIC: FILE, FILE.1 … FILE.(N-1) (default {Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultTraceFiles})", "packet-trace", "files");
    public static readonly OptionSpec PacketTraceSnaplen = new("packet-trace-snaplen", null, "BYTES", $"most bytes of each frame captured (default {Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultTraceSnapLength})", "packet-trace", "snaplen");
    public static readonly OptionSpec DpdkArgs = new("dpdk-args", null, "\"ARGS\"", "raw DPDK EAL arguments, e.g. --vdev=net_af_packet0,iface=eth1", "general", "dpdk-args");
    public static readonly OptionSpec DpdkHelp = new("dpdk-help", null, null, "print the DPDK EAL help and exit");
    public static readonly OptionSpec DpdkPort = new("dpdk-port", null, "N", "which DPDK port is the underlay (default 0)", "general", "dpdk-port");
    public static readonly OptionSpec NicMtu = new("nic-mtu", 'm', "N|max", "underlay MTU; on af_packet/af_xdp/tap, the Linux interface's (default: unchanged)", "general", "nic-mtu");
    public static readonly OptionSpec VxlanPeer = new("vxlan-peer", null, "IP", "head-end replication instead of per-VNI multicast groups: copy every VNI's floods to this VTEP (repeatable)", "general", "vxlan-peer", Repeatable: true);
    public static readonly OptionSpec VxlanGateway = new("vxlan-gateway", null, "IP", "routed underlay: reach VTEPs outside the -i prefix through this router", "general", "vxlan-gateway");
    public static readonly OptionSpec FdbAgeing = new("fdb-ageing", null, "SECONDS", $"how long a learned remote MAC lives without traffic from it (default {DaemonOptions.DefaultFdbAgeingSeconds})", "general", "fdb-ageing");
    public static readonly OptionSpec NoOffload = new("no-offload", null, null, "do not offer TSO to guests");
    public static readonly OptionSpec ConntrackMax = new("conntrack-max", null, "N", $"most tracked connections at once, all NICs together (default {Butterfly.Infrastructure.Dpdk.DataPathOptions.DefaultConntrackMax}); a new flow beyond is dropped and counted", "firewall", "conntrack-max");
    public static readonly OptionSpec ConntrackTimeouts = new("conntrack-timeouts", null, "NAME=S,...", "idle timeouts in seconds over the EC2-like defaults: " + Butterfly.Infrastructure.Dpdk.DataPathOptions.DescribeConntrackTimeouts(), "firewall", "conntrack-timeouts");
    public static readonly OptionSpec ConntrackCutEstablished = new("conntrack-cut-established", null, null, "a rule change cuts the established connections the new rules refuse (default: they idle out, as in EC2)", "firewall", "conntrack-cut-established");
    public static readonly OptionSpec Key = new("key", 'k', "FILE", "base64 32-byte key: only encrypted API requests are accepted", "security", "encryption_key_path");
    public static readonly OptionSpec CurveKey = new("curve-key", null, "FILE", "CURVE on the API: this daemon's key pair (a secret certificate, e.g. of butterfly keygen); clear clients are refused", "security", "curve_key_path");
    public static readonly OptionSpec CurveAllow = new("curve-allow", null, "FILE|DIR", "with --curve-key: the client public keys let in (a directory of *.key certificates, or a file of keys); re-read on SIGHUP", "security", "curve_allow_path");
    public static readonly OptionSpec HostId = new("host-id", null, "ID", "this host's id in an event store shared by a fleet (default: the host name)", "general", "host-id");
    public static readonly OptionSpec EventStore = new("event-store", null, "DEST", $"event log: file:DIR or a PostgreSQL connection string (default {DaemonOptions.DefaultEventStore})", "general", "event-store");
    public static readonly OptionSpec StoreTimeout = new("store-timeout", null, "SECONDS", $"a write the event store has not confirmed in this time fails with an error; queries that read the store get the same bound (default {DaemonOptions.DefaultStoreTimeoutSeconds})", "general", "store-timeout");
    public static readonly OptionSpec MetricsEndpoint = new("metrics-endpoint", null, "HOST:PORT", "serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9110 (default: off)", "general", "metrics-endpoint");
    public static readonly OptionSpec RepairLog = new("repair-log", null, null, "check the --event-store file log without starting, show what a repair would keep and drop, and exit (the daemon must be stopped)");
    public static readonly OptionSpec Yes = new("yes", null, null, "with --repair-log: apply the repair (the log files are copied to DIR/damaged-TIME/ first)");
    public static readonly OptionSpec Version = new("version", 'V', null, "print the version and exit");
    public static readonly OptionSpec Help = new("help", 'h', null, "print this help and exit");

    /// <summary>Every option, in the order the usage text lists them.</summary>
    public static readonly IReadOnlyList<OptionSpec> All =
    [
        Config, Ip, Endpoint, SocketDir, LogLevel, NoSyslog, GraphCpuCore, GraphNice, PacketTrace, PacketTraceUnderlay, PacketTraceMaxSize,
        PacketTraceFiles, PacketTraceSnaplen, DpdkArgs,
        DpdkHelp, DpdkPort, NicMtu, VxlanPeer, VxlanGateway, FdbAgeing, NoOffload, ConntrackMax, ConntrackTimeouts,
        ConntrackCutEstablished, Key, CurveKey, CurveAllow, EventStore, HostId, StoreTimeout, MetricsEndpoint, RepairLog, Yes, Version, Help,
    ];
}
