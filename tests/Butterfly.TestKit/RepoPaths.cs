using System.Reflection;

namespace Butterfly.TestKit;

/// <summary>
/// Where the repository and its built programs are. The configuration (Debug/Release) is the
/// one this assembly was built with, so tests run the binaries of their own build.
/// </summary>
public static class RepoPaths
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>The directory holding Butterfly.sln.</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>Debug or Release: the configuration of this build.</summary>
    public static string Configuration =>
        typeof(RepoPaths).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>The built daemon: &lt;repo&gt;/Api.Zmq/bin/&lt;cfg&gt;/net10.0/butterflyd.</summary>
    public static string Butterflyd => Built("Api.Zmq", "butterflyd");

    /// <summary>The built client: &lt;repo&gt;/Cli/bin/&lt;cfg&gt;/net10.0/butterfly.</summary>
    public static string Butterfly => Built("Cli", "butterfly");

    private static string Built(string project, string program)
    {
        var path = Path.Combine(RepoRoot, project, "bin", Configuration, "net10.0", program);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"{program} is not built at {path}: run `dotnet build {project} -c {Configuration}` first", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Butterfly.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no Butterfly.sln above {AppContext.BaseDirectory}");
    }
}
