using Butterfly.Cli.CommandLine;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;

namespace Butterfly.Cli.Commands;

/// <summary>
/// <c>butterfly request FILE [--stdout]</c>: sends the <c>proto.Messages</c> written in text
/// format in FILE (what <c>dump</c> prints). With <c>--stdout</c> the reply is printed in
/// text format. Unlike the original client, a reply reporting a failure exits 1.
/// </summary>
internal static class RequestCommand
{
    public static ICliCommand Parse(ArgScanner s)
    {
        if (Words.WantsUsage(s, "request", out var usage))
            return usage;
        string? file = null;
        var toStdout = false;
        while (s.TryNext(out var word))
        {
            if (word == "--stdout")
                toStdout = true;
            else if (word.StartsWith('-') || file is not null)
                throw s.Unexpected(word);
            else
                file = word;
        }
        if (file is null)
            throw s.Error("missing FILE");
        return new RunCommand(ctx => Run(ctx, file, toStdout));
    }

    private static int Run(CliContext ctx, string file, bool toStdout)
    {
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            ctx.Err.WriteLine($"failed to open {file}: {e.Message}");
            return 1;
        }
        var parsed = TextFormatParser.Parse<Messages>(text);
        if (!parsed.Ok)
        {
            ctx.Err.WriteLine($"{file}:{parsed.Error}");
            return 1;
        }
        var request = (Messages)parsed.Message!;
        if (request.Messages_.Count == 0 && request.Encrypted is null)
        {
            ctx.Err.WriteLine($"{file}: no message to send");
            return 1;
        }
        return ctx.Api.Call(request, replyToStdout: toStdout) is null ? 1 : 0;
    }
}
