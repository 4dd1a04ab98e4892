namespace Butterfly.Infrastructure.Events.Tests.Support;

/// <summary>Finds the repository (the folder holding Butterfly.sln) from the test binaries, for scripts/ and sql/.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Butterfly.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"no Butterfly.sln above {AppContext.BaseDirectory}");
    }
}
