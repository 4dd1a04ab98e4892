using System.Globalization;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Builds the EAL command line from <see cref="DataPathOptions"/>. Pure (no DPDK), so the
/// defaults and the handling of raw --dpdk-args are unit-tested without root.
/// </summary>
internal static class EalArguments
{
    /// <summary>argv[0] as EAL sees it (it shows in EAL's usage text).</summary>
    internal const string ProgramName = "butterflyd";

    /// <summary>
    /// A file prefix stable for one socket directory: a daemon restarted after kill -9 reuses
    /// (and so cleans) its own /var/run/dpdk/&lt;prefix&gt;, while two daemons with different
    /// socket directories on one host never share EAL state.
    /// </summary>
    internal static string FilePrefixFor(string socketDir) => "butterfly-" + StableHash(Normalise(socketDir));

    /// <summary>Name of the default tap underlay interface; at most 15 bytes (IFNAMSIZ - 1).</summary>
    internal static string UnderlayTapFor(string filePrefix) => "bfu" + StableHash(filePrefix);

    /// <summary>
    /// The full argv (argv[0] included). <paramref name="controlCpus"/> are the CPUs the main
    /// lcore may use: every allowed CPU except the packet thread's one.
    /// <paramref name="staticDrivers"/> are the drivers linked into the shim when it links DPDK
    /// statically (null: EAL loads DPDK's shared plugin directory).
    /// </summary>
    /// <exception cref="FormatException">Unparsable --dpdk-args, or <c>-d</c> with a statically linked DPDK.</exception>
    internal static string[] Build(DataPathOptions options, IReadOnlyList<int> controlCpus, out string filePrefix, string? staticDrivers = null)
    {
        var args = new List<string> { ProgramName };
        if (options.DpdkArgs is null)
        {
            filePrefix = FilePrefixFor(options.SocketDir);
            args.AddRange(["--no-huge", "-m", "512", "--no-pci", "--file-prefix", filePrefix]);
            args.Add($"--vdev=net_tap0,iface={UnderlayTapFor(filePrefix)}");
        }
        else
        {
            var raw = Split(options.DpdkArgs);
            if (staticDrivers is not null && raw.Exists(a => a.StartsWith("-d", StringComparison.Ordinal)))
            {
                // A driver .so from DPDK's shared build links the shared EAL: loading it would
                // put a second, uninitialised DPDK into the process.
                throw new FormatException(
                    "--dpdk-args: -d cannot load a driver, this build links DPDK statically with the drivers "
                    + staticDrivers + "; add the driver to DPDK_DRIVERS in Infrastructure.Dpdk/native/Makefile "
                    + "and rebuild, or build the shim with DPDK_LINK=shared");
            }
            args.AddRange(raw);
            filePrefix = ValueOf(raw, "--file-prefix") ?? FilePrefixFor(options.SocketDir);
            if (ValueOf(raw, "--file-prefix") is null)
            {
                args.AddRange(["--file-prefix", filePrefix]);
            }
            if (NamesLcores(raw))
            {
                return [.. args];
            }
        }
        if (controlCpus.Count > 0)
        {
            // Lcore 0 (the main lcore) floats over the control CPUs; EAL's control threads
            // follow it, so none of them lands on the packet thread's CPU.
            args.AddRange(["--lcores", "0@(" + string.Join(',', controlCpus) + ")"]);
        }
        return [.. args];
    }

    /// <summary>
    /// Splits a raw argument string like a shell does for words: blanks separate, single and
    /// double quotes group, a backslash escapes the next character outside single quotes.
    /// </summary>
    /// <exception cref="FormatException">An unterminated quote or a trailing backslash.</exception>
    internal static List<string> Split(string raw)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        var inWord = false;
        char quote = '\0';
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
                else if (c == '\\' && quote == '"' && i + 1 < raw.Length && raw[i + 1] is '"' or '\\')
                {
                    word.Append(raw[++i]);
                }
                else
                {
                    word.Append(c);
                }
                continue;
            }
            switch (c)
            {
                case ' ' or '\t' or '\n' or '\r':
                    if (inWord)
                    {
                        words.Add(word.ToString());
                        word.Clear();
                        inWord = false;
                    }
                    break;
                case '\'' or '"':
                    quote = c;
                    inWord = true;
                    break;
                case '\\':
                    if (i + 1 >= raw.Length)
                    {
                        throw new FormatException("--dpdk-args ends with a lone backslash");
                    }
                    word.Append(raw[++i]);
                    inWord = true;
                    break;
                default:
                    word.Append(c);
                    inWord = true;
                    break;
            }
        }
        if (quote != '\0')
        {
            throw new FormatException($"--dpdk-args has an unterminated {quote} quote");
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words;
    }

    /// <summary>The value of "--opt VALUE" or "--opt=VALUE", or null.</summary>
    private static string? ValueOf(List<string> args, string option)
    {
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == option && i + 1 < args.Count)
            {
                return args[i + 1];
            }
            if (args[i].StartsWith(option + "=", StringComparison.Ordinal))
            {
                return args[i][(option.Length + 1)..];
            }
        }
        return null;
    }

    /// <summary>Whether the operator chose the lcores (-l, -c, --lcores) or the main lcore.</summary>
    private static bool NamesLcores(List<string> args) =>
        args.Exists(a => a.StartsWith("-l", StringComparison.Ordinal) || a.StartsWith("-c", StringComparison.Ordinal)
            || a.StartsWith("--lcores", StringComparison.Ordinal) || a.StartsWith("--main-lcore", StringComparison.Ordinal));

    private static string Normalise(string dir) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));

    /// <summary>32-bit FNV-1a over the UTF-8 bytes, as 8 hex digits: the same on every run and host.</summary>
    private static string StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(text))
        {
            hash = (hash ^ b) * 16777619u;
        }
        return hash.ToString("x8", CultureInfo.InvariantCulture);
    }
}
