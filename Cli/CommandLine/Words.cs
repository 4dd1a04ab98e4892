using System.Globalization;
using Butterfly.Cli.Commands;

namespace Butterfly.Cli.CommandLine;

/// <summary>Small parsing helpers shared by the command parsers.</summary>
internal static class Words
{
    /// <summary>
    /// Names the command being parsed and tells whether its usage was asked for, by
    /// <c>-h</c>/<c>--help</c> anywhere in the command or by the word <c>help</c> right
    /// after the command name (the original client's <c>X help</c>).
    /// </summary>
    public static bool WantsUsage(ArgScanner s, string path, out ICliCommand usage)
    {
        s.Path = path;
        usage = new UsageCommand(path);
        if (s.HelpRequested)
            return true;
        if (s.Peek() == "help")
        {
            s.TryNext(out _);
            s.End();
            return true;
        }
        return false;
    }

    /// <summary>Reads the sub-command word of a command group (nic, sg, …).</summary>
    public static string SubCommand(ArgScanner s, string group)
    {
        s.Path = group;
        if (!s.TryNext(out var word))
            return s.HelpRequested ? "help" : throw s.Error("missing subcommand");
        return word;
    }

    public static CommandLineException InvalidSubCommand(ArgScanner s, string group, string word) =>
        new($"invalid {group} subcommand '{word}' (see \"butterfly {group} help\")");

    /// <summary>The positional words left (at least <paramref name="min"/>); options are errors.</summary>
    public static List<string> Positionals(ArgScanner s, string name, int min)
    {
        var list = new List<string>();
        while (s.TryNext(out var word))
        {
            if (word.StartsWith('-'))
                throw s.Unexpected(word);
            list.Add(word);
        }
        if (list.Count < min)
            throw s.Error($"missing {name}");
        return list;
    }

    public static bool Bool(ArgScanner s, string option)
    {
        var text = s.Value(option);
        return text.ToLowerInvariant() switch
        {
            "true" => true,
            "false" => false,
            _ => throw s.Error($"{option} must be true or false, not '{text}'"),
        };
    }

    public static uint UInt(ArgScanner s, string option, uint max, string what)
    {
        var text = s.Value(option);
        if (!uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > max)
            throw s.Error(string.Create(CultureInfo.InvariantCulture, $"{option}: '{text}' is not {what} (0 to {max})"));
        return value;
    }

    /// <summary>After a flag, an explicit "true"/"false" is accepted too.</summary>
    public static bool OptionalBool(ArgScanner s)
    {
        var next = s.Peek()?.ToLowerInvariant();
        if (next is "true" or "false")
        {
            s.TryNext(out _);
            return next == "true";
        }
        return true;
    }
}

/// <summary>A parsed command whose work is a delegate.</summary>
internal sealed class RunCommand(Func<CliContext, int> run) : ICliCommand
{
    public int Run(CliContext context) => run(context);
}
