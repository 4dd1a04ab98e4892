namespace Butterfly.Cli.CommandLine;

/// <summary>
/// A mistake on the command line (unknown option, missing argument, bad value). Thrown by
/// the parsers and turned into one line on stderr and exit code 1 by <see cref="CliApp"/>;
/// it never escapes the program.
/// </summary>
internal sealed class CommandLineException : Exception
{
    public CommandLineException(string message)
        : base(message)
    {
    }

    public CommandLineException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public CommandLineException()
    {
    }
}
