namespace Butterfly.Fuzz;

/// <summary>
/// <code>
/// Butterfly.Fuzz TARGET                 under afl-fuzz (SharpFuzz's fork server reads the input)
/// Butterfly.Fuzz TARGET --replay DIR... runs every file of the directories (corpus, crash regressions); exit 1 on a crash
/// </code>
/// Targets: api, envelope, textformat, logrecord (<see cref="Targets"/>). scripts/fuzz.sh builds,
/// instruments and runs them.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        if (args is ["--write-seeds", var directory])
        {
            Seeds.Write(directory);
            return 0;
        }
        if (args.Length == 0 || !Targets.All.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: Butterfly.Fuzz {string.Join('|', Targets.All.Keys)} [--replay DIR...]");
            return 2;
        }
        if (args.Length > 1 && args[1] == "--replay")
        {
            var failures = 0;
            var files = args[2..].Where(Directory.Exists).SelectMany(Directory.EnumerateFiles).Order(StringComparer.Ordinal).ToList();
            foreach (var file in files)
            {
                try
                {
                    target(File.ReadAllBytes(file));
                }
                catch (Exception e)
                {
                    failures++;
                    Console.Error.WriteLine($"{args[0]}: {file}: {e.GetType().Name}: {e.Message}");
                }
            }
            Console.WriteLine($"{args[0]}: {files.Count} inputs replayed, {failures} crashed");
            return failures == 0 ? 0 : 1;
        }
        SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            target(copy.ToArray());
        });
        return 0;
    }
}
