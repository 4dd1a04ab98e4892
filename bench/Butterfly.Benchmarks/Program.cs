using BenchmarkDotNet.Running;

namespace Butterfly.Benchmarks;

public static class Program
{
    /// <summary>
    /// Runs the benchmarks the command line selects (BenchmarkDotNet's switcher: --filter, --job,
    /// --inProcess, ...), or with <c>--quick [NAME]</c> the burst-by-burst timing of <see cref="QuickRun"/> (of the
    /// benchmarks whose name starts with NAME), or with
    /// <c>--loop NAME SECONDS</c> one benchmark run over and over (to attach a profiler).
    /// </summary>
    public static void Main(string[] args)
    {
        if (args is ["--quick"] or ["--quick", _])
        {
            Console.WriteLine("| benchmark      | underlay | fastest burst | median burst | mean burst | allocated |");
            QuickRun.Run(args.Length == 2 ? args[1] : null);
            return;
        }
        if (args is ["--policy"])
        {
            QuickRun.Policy();
            return;
        }
        if (args is ["--loop", var name, var seconds])
        {
            QuickRun.Loop(name, double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture));
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
