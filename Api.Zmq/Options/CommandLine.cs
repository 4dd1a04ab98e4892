namespace Butterfly.Api.Zmq.Options;

/// <summary>
/// Splits butterflyd's argument vector into option values, GNU style: <c>--name VALUE</c>,
/// <c>--name=VALUE</c>, <c>-x VALUE</c>, <c>-xVALUE</c> and grouped flags (<c>-tV</c>).
/// An option that takes a value always consumes the next argument, even when it starts
/// with '-' (so <c>--dpdk-args "-l 0 --no-pci"</c> works). The last occurrence wins, except for a
/// repeatable option, whose values are joined with commas.
/// Pure: no file or process access.
/// </summary>
internal static class CommandLine
{
    /// <summary>Option values by <see cref="OptionSpec.Name"/>; flags map to "true".</summary>
    public static IReadOnlyDictionary<string, string> Parse(IReadOnlyList<string> args, out string? error)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        error = null;
        for (var i = 0; i < args.Count && error is null; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                if (i + 1 < args.Count)
                {
                    error = $"unexpected argument '{args[i + 1]}'";
                }

                break;
            }

            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                error = ParseLong(args, ref i, values);
            }
            else if (arg.Length > 1 && arg[0] == '-')
            {
                error = ParseShortGroup(args, ref i, values);
            }
            else
            {
                error = $"unexpected argument '{arg}' (butterflyd takes options only)";
            }
        }

        return values;
    }

    private static string? ParseLong(IReadOnlyList<string> args, ref int i, Dictionary<string, string> values)
    {
        var body = args[i][2..];
        var eq = body.IndexOf('=', StringComparison.Ordinal);
        var name = eq < 0 ? body : body[..eq];
        var spec = OptionSpecs.All.FirstOrDefault(o => o.Name == name);
        if (spec is null)
        {
            return $"unknown option '--{name}'";
        }

        if (!spec.TakesValue)
        {
            if (eq >= 0)
            {
                return $"option {spec.Long} takes no value";
            }

            values[spec.Name] = "true";
            return null;
        }

        if (eq >= 0)
        {
            Set(values, spec, body[(eq + 1)..]);
            return null;
        }

        if (i + 1 >= args.Count)
        {
            return $"option {spec.Display} needs a value ({spec.ValueName})";
        }

        Set(values, spec, args[++i]);
        return null;
    }

    private static string? ParseShortGroup(IReadOnlyList<string> args, ref int i, Dictionary<string, string> values)
    {
        var arg = args[i];
        for (var j = 1; j < arg.Length; j++)
        {
            var c = arg[j];
            var spec = OptionSpecs.All.FirstOrDefault(o => o.Short == c);
            if (spec is null)
            {
                return $"unknown option '-{c}'";
            }

            if (!spec.TakesValue)
            {
                values[spec.Name] = "true";
                continue;
            }

            // The rest of the token is the value ("-l3"); otherwise the next argument is.
            if (j + 1 < arg.Length)
            {
                Set(values, spec, arg[(j + 1)..]);
            }
            else if (i + 1 < args.Count)
            {
                Set(values, spec, args[++i]);
            }
            else
            {
                return $"option {spec.Display} needs a value ({spec.ValueName})";
            }

            return null;
        }

        return null;
    }

    private static void Set(Dictionary<string, string> values, OptionSpec spec, string value) =>
        values[spec.Name] = spec.Repeatable && values.TryGetValue(spec.Name, out var earlier) ? earlier + "," + value : value;
}
