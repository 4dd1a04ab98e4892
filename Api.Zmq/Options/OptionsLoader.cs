using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Butterfly.Api.Zmq.Logging;

namespace Butterfly.Api.Zmq.Options;

/// <summary>What butterflyd was asked to do.</summary>
internal enum StartupAction
{
    Run,
    ShowHelp,
    ShowVersion,
    ShowDpdkHelp,
    RepairLog,
    Fail,
}

/// <summary>
/// The outcome of reading the options: an action, the merged options when it is
/// <see cref="StartupAction.Run"/>, one error line when it is <see cref="StartupAction.Fail"/>,
/// and warnings (such as unknown INI keys) to log once logging is up.
/// </summary>
internal sealed record LoadedOptions(StartupAction Action, DaemonOptions? Options, string? Error, IReadOnlyList<string> Warnings)
{
    /// <summary>With <see cref="StartupAction.RepairLog"/>: the event store to repair, and whether to apply (--yes).</summary>
    public (string EventStore, bool Apply)? Repair { get; init; }

    public static LoadedOptions Failed(string error) => new(StartupAction.Fail, null, error, []);
}

/// <summary>
/// Merges the command line with the optional INI file (the command line wins) and checks
/// every value, so that a bad setting is reported as one line naming where it came from.
/// The only I/O is reading the INI file through the given delegate.
/// </summary>
internal static class OptionsLoader
{
    /// <summary>A raw value and where it came from ("-i/--ip" or "file.ini:3: ip").</summary>
    private readonly record struct Setting(string Value, string Origin);

    public static LoadedOptions Load(IReadOnlyList<string> args, Func<string, string> readFile)
    {
        var cmd = CommandLine.Parse(args, out var error);
        if (error is not null)
        {
            return LoadedOptions.Failed(error);
        }

        if (cmd.ContainsKey(OptionSpecs.Help.Name))
        {
            return new LoadedOptions(StartupAction.ShowHelp, null, null, []);
        }

        if (cmd.ContainsKey(OptionSpecs.Version.Name))
        {
            return new LoadedOptions(StartupAction.ShowVersion, null, null, []);
        }

        if (cmd.ContainsKey(OptionSpecs.DpdkHelp.Name))
        {
            return new LoadedOptions(StartupAction.ShowDpdkHelp, null, null, []);
        }

        var settings = new Dictionary<string, Setting>(StringComparer.Ordinal);
        var warnings = new List<string>();
        cmd.TryGetValue(OptionSpecs.Config.Name, out var configFile);
        if (configFile is not null)
        {
            error = ReadIni(configFile, readFile, settings, warnings);
            if (error is not null)
            {
                return LoadedOptions.Failed(error);
            }
        }

        foreach (var (name, value) in cmd)
        {
            settings[name] = new Setting(value, OptionSpecs.All.First(o => o.Name == name).Display);
        }

        if (settings.ContainsKey(OptionSpecs.RepairLog.Name))
        {
            // A maintenance run on a stopped log: none of the daemon's other settings are needed.
            var store = settings.TryGetValue(OptionSpecs.EventStore.Name, out var s) ? s.Value.Trim() : DaemonOptions.DefaultEventStore;
            return new LoadedOptions(StartupAction.RepairLog, null, null, warnings)
            {
                Repair = (store, settings.ContainsKey(OptionSpecs.Yes.Name)),
            };
        }

        if (settings.ContainsKey(OptionSpecs.Yes.Name))
        {
            return LoadedOptions.Failed("--yes only goes with --repair-log");
        }

        var options = Build(settings, configFile, out error);
        return options is null
            ? LoadedOptions.Failed(error!)
            : new LoadedOptions(StartupAction.Run, options, null, warnings);
    }

    /// <summary>
    /// The log level the INI file sets now (for SIGHUP), null when it sets none; throws
    /// <see cref="InvalidDataException"/> with one line when the file cannot be read or is wrong.
    /// </summary>
    public static string? ReadLogLevel(string configFile, Func<string, string> readFile)
    {
        var settings = new Dictionary<string, Setting>(StringComparer.Ordinal);
        var error = ReadIni(configFile, readFile, settings, []);
        if (error is null && settings.TryGetValue(OptionSpecs.LogLevel.Name, out var level))
        {
            var name = CheckLogLevel(level, ref error);
            return error is null ? name : throw new InvalidDataException(error);
        }
        return error is null ? null : throw new InvalidDataException(error);
    }

    private static string? ReadIni(string path, Func<string, string> readFile, Dictionary<string, Setting> settings, List<string> warnings)
    {
        string text;
        try
        {
            text = readFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"cannot read configuration file '{path}': {e.Message}";
        }

        var entries = IniFile.Parse(text, path, out var error);
        if (entries is null)
        {
            return error;
        }

        foreach (var entry in entries)
        {
            var spec = OptionSpecs.All.FirstOrDefault(o =>
                o.IniSection == entry.Section && (o.IniKey == entry.Key || o.IniAlias == entry.Key));
            if (spec is null)
            {
                warnings.Add($"{path}:{entry.Line}: unknown key '{entry.Key}' in [{entry.Section}], ignored");
                continue;
            }

            settings[spec.Name] = new Setting(entry.Value, $"{path}:{entry.Line}: {entry.Key}");
        }

        return null;
    }

    private static DaemonOptions? Build(Dictionary<string, Setting> s, string? configFile, out string? error)
    {
        error = null;
        if (!s.TryGetValue(OptionSpecs.Ip.Name, out var ip) || ip.Value.Length == 0)
        {
            error = "no VXLAN endpoint address: give -i/--ip IP (or 'ip' in [general] of the configuration file)";
            return null;
        }

        if (!s.TryGetValue(OptionSpecs.SocketDir.Name, out var socketDir) || socketDir.Value.Length == 0)
        {
            error = "no socket directory: give -s/--socket-dir DIR (or 'socket-dir' in [general] of the configuration file)";
            return null;
        }

        var options = new DaemonOptions
        {
            Ip = CheckIp(ip with { Value = SplitPrefix(ip, out var prefixText) }, ref error),
            SocketDir = socketDir.Value,
            ConfigFile = configFile,
            NoSyslog = s.ContainsKey(OptionSpecs.NoSyslog.Name),
            PacketTrace = s.ContainsKey(OptionSpecs.PacketTrace.Name),
            NoOffload = s.ContainsKey(OptionSpecs.NoOffload.Name),
        };

        if (s.TryGetValue(OptionSpecs.ConntrackCutEstablished.Name, out var cut))
        {
            options = options with { ConntrackCutEstablished = CheckFlag(cut, ref error) };
        }

        if (s.TryGetValue(OptionSpecs.ConntrackMax.Name, out var conntrackMax))
        {
            options = options with { ConntrackMax = CheckInt(conntrackMax, 1, Butterfly.Infrastructure.Dpdk.DataPathOptions.MaxConntrackMax, "a number of connections", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.ConntrackTimeouts.Name, out var timeouts))
        {
            var problem = Butterfly.Infrastructure.Dpdk.DataPathOptions.CheckConntrack(options.ConntrackMax, timeouts.Value);
            if (problem is not null)
            {
                error ??= $"{timeouts.Origin}: {problem}";
            }

            options = options with { ConntrackTimeouts = timeouts.Value.Trim() };
        }

        if (prefixText is not null)
        {
            var maxPrefix = options.Ip.Contains(':', StringComparison.Ordinal) ? 128 : 32;
            options = options with { IpPrefixLength = CheckInt(ip with { Value = prefixText }, 1, maxPrefix, "a prefix length", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.VxlanGateway.Name, out var gateway))
        {
            options = options with { VxlanGateway = CheckIp(gateway, ref error) };
        }

        if (s.TryGetValue(OptionSpecs.FdbAgeing.Name, out var ageing))
        {
            options = options with { FdbAgeingSeconds = CheckInt(ageing, 1, 86_400, "a number of seconds", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.Endpoint.Name, out var endpoint))
        {
            options = options with { Endpoint = CheckEndpoint(endpoint, ref error) };
        }

        if (s.TryGetValue(OptionSpecs.LogLevel.Name, out var level))
        {
            options = options with { LogLevel = CheckLogLevel(level, ref error), LogLevelFromCommandLine = level.Origin == OptionSpecs.LogLevel.Display };
        }

        if (s.TryGetValue(OptionSpecs.GraphCpuCore.Name, out var core))
        {
            options = options with { GraphCpuCore = CheckInt(core, 0, 1023, "a CPU number", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.GraphNice.Name, out var nice))
        {
            options = options with { GraphNice = CheckInt(nice, -20, 19, "a nice value", ref error, NumberStyles.AllowLeadingSign) };
        }

        if (s.TryGetValue(OptionSpecs.DpdkPort.Name, out var port))
        {
            options = options with { DpdkPort = CheckInt(port, 0, ushort.MaxValue - 1, "a DPDK port number", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.NicMtu.Name, out var mtu))
        {
            options = options with { NicMtu = CheckMtu(mtu, ref error) };
        }

        if (s.TryGetValue(OptionSpecs.VxlanPeer.Name, out var peers))
        {
            options = options with { VxlanPeers = CheckPeers(peers, ref error) };
        }

        if (s.TryGetValue(OptionSpecs.DpdkArgs.Name, out var dpdkArgs) && !string.IsNullOrWhiteSpace(dpdkArgs.Value))
        {
            options = options with { DpdkArgs = dpdkArgs.Value.Trim() };
        }

        if (s.TryGetValue(OptionSpecs.Key.Name, out var key))
        {
            options = options with { KeyFile = CheckNotEmpty(key, "a key file path", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.PacketTraceUnderlay.Name, out var underlayTrace))
        {
            options = options with { PacketTraceUnderlay = CheckNotEmpty(underlayTrace, "a file path", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.PacketTraceMaxSize.Name, out var traceSize))
        {
            options = options with { PacketTraceMaxSize = CheckSize(traceSize, Butterfly.Infrastructure.Dpdk.DataPathOptions.MinTraceMaxFileBytes, ref error) };
        }

        if (s.TryGetValue(OptionSpecs.PacketTraceFiles.Name, out var traceFiles))
        {
            options = options with { PacketTraceFiles = CheckInt(traceFiles, 1, Butterfly.Infrastructure.Dpdk.DataPathOptions.MaxTraceFiles, "a number of files", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.PacketTraceSnaplen.Name, out var snaplen))
        {
            options = options with { PacketTraceSnaplen = CheckInt(snaplen, 1, Butterfly.Infrastructure.Dpdk.DataPathOptions.MaxTraceSnapLength, "a number of bytes", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.EventStore.Name, out var store))
        {
            options = options with { EventStore = CheckNotEmpty(store, "an event store (file:DIR or a PostgreSQL connection string)", ref error) };
        }

        if (s.TryGetValue(OptionSpecs.StoreTimeout.Name, out var timeout))
        {
            options = options with { StoreTimeout = CheckSeconds(timeout, ref error) };
        }

        if (s.TryGetValue(OptionSpecs.MetricsEndpoint.Name, out var metrics))
        {
            var served = Butterfly.Api.Zmq.Metrics.MetricsEndpoint.Parse(metrics.Value, out var problem);
            error ??= problem is null ? null : $"{metrics.Origin}: '{metrics.Value}': {problem}";
            options = options with { MetricsEndpoint = served };
        }

        options = WithCurveAndHost(options, s, ref error);
        return error is null ? options : null;
    }

    /// <summary>--curve-key with --curve-allow (both or neither), and --host-id (the host name by default).</summary>
    private static DaemonOptions WithCurveAndHost(DaemonOptions options, Dictionary<string, Setting> s, ref string? error)
    {
        var hasKey = s.TryGetValue(OptionSpecs.CurveKey.Name, out var curveKey);
        var hasAllow = s.TryGetValue(OptionSpecs.CurveAllow.Name, out var curveAllow);
        if (hasKey != hasAllow)
        {
            error ??= hasKey
                ? $"{curveKey.Origin}: CURVE needs the client keys to let in as well: give --curve-allow FILE|DIR (or 'curve_allow_path' in [security])"
                : $"{curveAllow.Origin}: an allow-list without a server key: give --curve-key FILE (or 'curve_key_path' in [security])";
        }
        else if (hasKey)
        {
            options = options with
            {
                CurveKeyFile = CheckNotEmpty(curveKey, "a CURVE key file", ref error),
                CurveAllowPath = CheckNotEmpty(curveAllow, "a file or directory of client keys", ref error),
            };
        }
        var host = s.TryGetValue(OptionSpecs.HostId.Name, out var hostId)
            ? hostId
            : new Setting(System.Net.Dns.GetHostName(), "the host name (give --host-id ID)");
        if (!Butterfly.Infrastructure.Events.EventStores.IsValidHostId(host.Value.Trim()))
        {
            error ??= $"{host.Origin}: '{host.Value}' is not a host id (1 to 63 letters, digits, '.', '-' or '_', starting with a letter or digit)";
        }
        return options with { HostId = host.Value.Trim() };
    }

    private static TimeSpan CheckSeconds(Setting s, ref string? error)
    {
        if (double.TryParse(s.Value.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0.1 and <= 600)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        error ??= $"{s.Origin}: '{s.Value}' is not a number of seconds (0.1..600)";
        return TimeSpan.Zero;
    }

    private static string[] CheckPeers(Setting s, ref string? error)
    {
        var peers = s.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (peers.Length == 0)
        {
            error ??= $"{s.Origin}: no VXLAN peer address given";
        }
        for (var i = 0; i < peers.Length; i++)
        {
            peers[i] = CheckIp(s with { Value = peers[i] }, ref error);
        }
        return peers;
    }

    /// <summary>"IP/LEN" → "IP" and LEN's text; "IP" → itself and null.</summary>
    private static string SplitPrefix(Setting s, out string? prefix)
    {
        var slash = s.Value.IndexOf('/', StringComparison.Ordinal);
        prefix = slash < 0 ? null : s.Value[(slash + 1)..];
        return slash < 0 ? s.Value : s.Value[..slash];
    }

    private static string CheckIp(Setting s, ref string? error)
    {
        var text = s.Value.Trim();
        // IPAddress.TryParse also takes "1" or "1.2" as IPv4; only dotted quads and IPv6 are meant.
        var ok = IPAddress.TryParse(text, out var address) &&
                 (address.AddressFamily == AddressFamily.InterNetworkV6
                     ? text.Contains(':', StringComparison.Ordinal) && address.ScopeId == 0
                     : text.Split('.').Length == 4);
        if (!ok)
        {
            error ??= $"{s.Origin}: '{s.Value}' is not an IPv4 or IPv6 address";
            return text;
        }

        return address!.ToString();
    }

    private static string CheckEndpoint(Setting s, ref string? error)
    {
        var problem = EndpointProblem(s.Value);
        if (problem is not null)
        {
            error ??= $"{s.Origin}: '{s.Value}': {problem}";
        }

        return s.Value;
    }

    /// <summary>Why an endpoint cannot be bound, or null: only <c>tcp://HOST:PORT</c> is served.</summary>
    internal static string? EndpointProblem(string endpoint)
    {
        const string Scheme = "tcp://";
        if (!endpoint.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return endpoint.StartsWith("ipc://", StringComparison.Ordinal)
                ? "ipc:// is not offered (the project's client, NetMQ, cannot reach a libzmq unix socket); use tcp://HOST:PORT"
                : "expected tcp://HOST:PORT";
        }

        var rest = endpoint[Scheme.Length..];
        var colon = rest.LastIndexOf(':');
        if (colon <= 0)
        {
            return "expected tcp://HOST:PORT";
        }

        var host = rest[..colon];
        var portText = rest[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return $"port '{portText}' is not a number between 1 and 65535";
        }

        var hostOk = host == "*" ||
                     (host.StartsWith('[') && host.EndsWith(']') && IPAddress.TryParse(host[1..^1], out _)) ||
                     host.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_');
        return hostOk ? null : $"host '{host}' is not '*', an IPv4 address, [an IPv6 address] or a host name";
    }

    private static string CheckLogLevel(Setting s, ref string? error)
    {
        var name = s.Value.Trim().ToLowerInvariant();
        if (!LogLevels.TryParse(name, out _))
        {
            error ??= $"{s.Origin}: unknown log level '{s.Value}' (use {string.Join(", ", LogLevels.Names)})";
        }

        return name;
    }

    /// <summary>A flag: set on the command line (empty value), or true/false in the INI file.</summary>
    private static bool CheckFlag(Setting s, ref string? error)
    {
        switch (s.Value.Trim().ToLowerInvariant())
        {
            case "" or "true" or "yes" or "1":
                return true;
            case "false" or "no" or "0":
                return false;
            default:
                error ??= $"{s.Origin}: '{s.Value}' is not true or false";
                return false;
        }
    }

    private static int CheckInt(Setting s, int min, int max, string what, ref string? error, NumberStyles styles = NumberStyles.None)
    {
        if (int.TryParse(s.Value.Trim(), styles, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        error ??= $"{s.Origin}: '{s.Value}' is not {what} ({min}..{max})";
        return 0;
    }

    /// <summary>A size in bytes, with an optional K, M or G suffix (powers of 1024), at least <paramref name="min"/>.</summary>
    private static long CheckSize(Setting s, long min, ref string? error)
    {
        var text = s.Value.Trim();
        var shift = text.Length == 0 ? 0 : char.ToUpperInvariant(text[^1]) switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            _ => 0,
        };
        var digits = shift == 0 ? text : text[..^1];
        if (long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= (long.MaxValue >> 31)
            && value << shift >= min)
        {
            return value << shift;
        }

        error ??= $"{s.Origin}: '{s.Value}' is not a size of at least {min} bytes (a number, or with K, M or G)";
        return min;
    }

    private static string CheckMtu(Setting s, ref string? error)
    {
        var text = s.Value.Trim();
        if (text.Equals("max", StringComparison.OrdinalIgnoreCase))
        {
            return "max";
        }

        // 68 is the smallest MTU IPv4 allows; 65535 the largest an Ethernet PMD could take.
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var mtu) && mtu is >= 68 and <= 65535)
        {
            return mtu.ToString(CultureInfo.InvariantCulture);
        }

        error ??= $"{s.Origin}: '{s.Value}' is not an MTU (68..65535 or 'max')";
        return text;
    }

    private static string CheckNotEmpty(Setting s, string what, ref string? error)
    {
        if (string.IsNullOrWhiteSpace(s.Value))
        {
            error ??= $"{s.Origin}: expected {what}, got an empty value";
        }

        return s.Value.Trim();
    }
}
