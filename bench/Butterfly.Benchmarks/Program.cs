using BenchmarkDotNet.Running;

namespace Butterfly.Benchmarks;

public static class Program
{
    /// <summary>
    /// Runs the benchmarks the command line selects (BenchmarkDotNet's switcher: --filter, --job,
    /// --inProcess, ...), or with <c>--quick</c> the burst-by-burst timing of <see cref="QuickRun"/>.
    /// </summary>
    public static void Main(string[] args)
    {
        if (args is ["--quick"])
        {
            Console.WriteLine("| benchmark      | underlay | fastest burst | median burst | mean burst | allocated |");
            QuickRun.Run();
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
