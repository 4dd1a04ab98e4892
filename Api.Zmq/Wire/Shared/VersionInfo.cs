using System.Reflection;

namespace Butterfly.Wire;

/// <summary>
/// The <c>-V</c> line of butterflyd and butterfly. The version, commit and build date are
/// embedded at build time as assembly metadata (Api.Zmq/Build/Version.targets runs git);
/// each falls back to "unknown" when the build could not tell.
/// </summary>
public static class VersionInfo
{
    private static readonly Assembly Self = typeof(VersionInfo).Assembly;

    public static string Version => Metadata("ButterflyVersion");

    public static string Commit => Metadata("ButterflyCommit");

    public static string BuildDate => Metadata("ButterflyBuildDate");

    /// <summary>The line the original tools printed, with the same quoting.</summary>
    public static string Line =>
        $"butterfly version: \"{Version}\" proto revision: \"{WireProtocol.Revision}\" commit: \"{Commit}\" date: \"{BuildDate}\"";

    private static string Metadata(string key)
    {
        var value = Self.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value;
        return string.IsNullOrWhiteSpace(value) ? "unknown" : value;
    }
}
