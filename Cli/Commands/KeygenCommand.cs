using Butterfly.Cli.CommandLine;
using Butterfly.Wire;
using NetMQ;

namespace Butterfly.Cli.Commands;

/// <summary>
/// <c>butterfly keygen NAME</c>: a new CURVE key pair as two ZeroMQ certificates, the layout
/// pyzmq's <c>zmq.auth.create_certificates</c> writes: <c>NAME.key</c> (the public key, to give to
/// the other side) and <c>NAME.key_secret</c> (both keys, readable by its owner only). Prints the
/// public key. Talks to no daemon; never overwrites a file.
/// </summary>
internal static class KeygenCommand
{
    public static ICliCommand Parse(ArgScanner s)
    {
        if (Words.WantsUsage(s, "keygen", out var usage))
            return usage;
        var name = s.Required("NAME");
        s.End();
        return new RunCommand(ctx => Run(ctx, name));
    }

    private static int Run(CliContext ctx, string name)
    {
        if (OperatingSystem.IsWindows())
        {
            ctx.Err.WriteLine("keygen: secret key files are made with Unix permissions; run it on Linux");
            return 1;
        }
        var publicFile = name + ".key";
        var secretFile = name + ".key_secret";
        foreach (var file in (string[])[publicFile, secretFile])
        {
            if (File.Exists(file))
            {
                ctx.Err.WriteLine($"keygen: {file} exists; keys are never overwritten");
                return 1;
            }
        }
        var pair = new NetMQCertificate();
        var now = ctx.Clock.GetUtcNow();
        try
        {
            // The secret file is made readable by its owner only before the key is written to it.
            using (var secret = new FileStream(secretFile, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            }))
            using (var writer = new StreamWriter(secret))
            {
                writer.Write(CurveKeys.Certificate(pair.PublicKey, pair.SecretKey, now, "butterfly keygen"));
            }
            File.WriteAllText(publicFile, CurveKeys.Certificate(pair.PublicKey, [], now, "butterfly keygen"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ctx.Err.WriteLine($"keygen: {e.Message}");
            return 1;
        }
        ctx.Out.WriteLine(CurveKeys.Z85Encode(pair.PublicKey));
        return 0;
    }
}
