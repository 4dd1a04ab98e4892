using Butterfly.Cli.CommandLine;
using Butterfly.Cli.Commands;
using Butterfly.Cli.Transport;
using Butterfly.Wire;

namespace Butterfly.Cli;

/// <summary>
/// The butterfly client: parses the whole line, then runs the chained commands in order,
/// stopping at the first failure. Exit code 0 on success, 1 on any failure; every failure
/// is one clear message on stderr, never an unhandled exception.
/// </summary>
internal static class CliApp
{
    public static int Run(
        IReadOnlyList<string> args,
        TextWriter stdout,
        TextWriter stderr,
        Func<ApiTarget, IApiTransport> transportFactory,
        TimeProvider clock)
    {
        try
        {
            // -V wins over everything else on the line, like in the original client.
            if (args.Any(a => a is "-V" or "--version"))
            {
                stdout.WriteLine(VersionInfo.Line);
                return 0;
            }
            if (args.Count == 0)
            {
                stderr.Write(Usage.For(""));
                return 1;
            }

            ParsedLine line;
            try
            {
                line = CommandLineParser.Parse(args, clock.GetUtcNow());
            }
            catch (CommandLineException e)
            {
                stderr.WriteLine(e.Message);
                return 1;
            }

            using var session = new ApiSession(line.Options, transportFactory, stdout, stderr);
            var context = new CliContext(session, stdout, stderr, clock);
            foreach (var command in line.Commands)
            {
                if (command.Run(context) != 0)
                    return 1;
            }
            return 0;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
