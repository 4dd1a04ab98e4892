using Butterfly.Cli.Transport;

namespace Butterfly.Cli.Commands;

/// <summary>What a running command may use: the daemon session, the console, the clock.</summary>
internal sealed class CliContext(ApiSession api, TextWriter stdout, TextWriter stderr, TimeProvider clock)
{
    public ApiSession Api { get; } = api;

    public TextWriter Out { get; } = stdout;

    public TextWriter Err { get; } = stderr;

    public TimeProvider Clock { get; } = clock;
}

/// <summary>One parsed command of the line, ready to run; returns the exit code.</summary>
internal interface ICliCommand
{
    int Run(CliContext context);
}

/// <summary>Prints a usage text on stdout and succeeds (<c>X help</c>, <c>-h</c>).</summary>
internal sealed class UsageCommand(string path) : ICliCommand
{
    public string Path { get; } = path;

    public int Run(CliContext context)
    {
        context.Out.Write(Usage.For(Path));
        return 0;
    }
}
