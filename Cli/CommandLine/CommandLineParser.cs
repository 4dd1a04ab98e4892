using Butterfly.Cli.Commands;

namespace Butterfly.Cli.CommandLine;

/// <summary>The whole line, parsed: global options and the chained commands in order.</summary>
internal sealed record ParsedLine(GlobalOptions Options, IReadOnlyList<ICliCommand> Commands);

/// <summary>
/// Splits the line on ` + ` and parses every command before anything is sent, so that a
/// typo in the third command does not leave the first two applied. Global options may
/// appear in any command and apply to all of them.
/// </summary>
internal static class CommandLineParser
{
    public static ParsedLine Parse(IReadOnlyList<string> args, DateTimeOffset now)
    {
        var options = new GlobalOptions();
        var commands = new List<ICliCommand>();
        foreach (var segment in Split(args))
            commands.Add(ParseCommand(new ArgScanner(segment, options), now));
        return new ParsedLine(options, commands);
    }

    private static List<List<string>> Split(IReadOnlyList<string> args)
    {
        var segments = new List<List<string>> { new() };
        foreach (var arg in args)
        {
            if (arg == "+")
                segments.Add([]);
            else
                segments[^1].Add(arg);
        }
        if (segments.Count > 1 && segments.Any(s => s.Count == 0))
            throw new CommandLineException("empty command before or after '+'");
        return segments;
    }

    private static ICliCommand ParseCommand(ArgScanner s, DateTimeOffset now)
    {
        if (!s.TryNext(out var command))
        {
            if (s.HelpRequested)
                return new UsageCommand("");
            throw new CommandLineException("missing command (see \"butterfly help\")");
        }
        return command switch
        {
            "nic" => NicCommands.Parse(s),
            "sg" => SgCommands.Parse(s),
            "status" => AppCommands.Status(s),
            "shutdown" => AppCommands.Shutdown(s),
            "request" => RequestCommand.Parse(s),
            "dump" => DumpCommand.Parse(s),
            "events" => EventCommands.Events(s, now),
            "state" => EventCommands.State(s, now),
            "restore" => EventCommands.Restore(s, now),
            "keygen" => KeygenCommand.Parse(s),
            "help" => new UsageCommand(""),
            _ => throw new CommandLineException($"invalid subcommand '{command}' (see \"butterfly help\")"),
        };
    }
}
