using System.Diagnostics;
using System.Text;

namespace Butterfly.Cli.Tests.Support;

/// <summary>Runs the real protoc (Debian's protobuf-compiler) as the C++ reference.</summary>
internal static class Protoc
{
    public static string ProtoDir => Path.Combine(RepoRoot.Path, "Api.Zmq", "Protos");

    /// <summary><c>protoc --decode=TYPE</c>: C++ TextFormat::Print of the given bytes.</summary>
    public static string Decode(string type, byte[] bytes, string? protoDir = null, string file = "message.proto") =>
        Run($"--decode={type} -I {protoDir ?? ProtoDir} {file}", bytes, protoDir ?? ProtoDir).Text;

    /// <summary><c>protoc --encode=TYPE</c>: C++ TextFormat::Parse then serialize.</summary>
    public static byte[] Encode(string type, string text) =>
        Run($"--encode={type} -I {ProtoDir} message.proto", Encoding.UTF8.GetBytes(text), ProtoDir).Bytes;

    private static (string Text, byte[] Bytes) Run(string arguments, byte[] input, string workDir)
    {
        var psi = new ProcessStartInfo("protoc", arguments)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        using var process = Process.Start(psi)!;
        var stdoutTask = Task.Run(async () =>
        {
            using var ms = new MemoryStream();
            await process.StandardOutput.BaseStream.CopyToAsync(ms);
            return ms.ToArray();
        });
        var stderrTask = process.StandardError.ReadToEndAsync();
        process.StandardInput.BaseStream.Write(input);
        process.StandardInput.Close();
        process.WaitForExit();
        var output = stdoutTask.Result;
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"protoc {arguments} failed: {stderrTask.Result}");
        return (Encoding.UTF8.GetString(output), output);
    }
}

internal static class RepoRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Butterfly.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Butterfly.sln not found above " + AppContext.BaseDirectory);
    }
}
