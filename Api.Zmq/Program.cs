using Butterfly.Api.Zmq.Hosting;
using Butterfly.Api.Zmq.Options;
using Butterfly.Infrastructure.Dpdk;
using Butterfly.Wire;

namespace Butterfly.Api.Zmq;

/// <summary>butterflyd: reads its options, then hands over to <see cref="Daemon"/>.</summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        Signals.MakeDeliverable();
        var loaded = OptionsLoader.Load(args, File.ReadAllText);
        switch (loaded.Action)
        {
            case StartupAction.ShowHelp:
                Console.Out.Write(Usage.Text());
                return 0;
            case StartupAction.ShowVersion:
                Console.Out.WriteLine(VersionInfo.Line);
                return 0;
            case StartupAction.ShowDpdkHelp:
                DpdkEal.PrintHelpAndExit();
                return 0;
            case StartupAction.RepairLog:
                return RepairLog(loaded.Repair!.Value.EventStore, loaded.Repair.Value.Apply);
            case StartupAction.Fail:
                Console.Error.WriteLine($"butterflyd: {loaded.Error} (see butterflyd --help)");
                return Daemon.ExitFailure;
            default:
                return Daemon.Run(loaded.Options!, loaded.Warnings);
        }
    }

    /// <summary>butterflyd --repair-log [--yes]: 0 when the log is sound (or was repaired), 1 otherwise.</summary>
    private static int RepairLog(string eventStore, bool apply)
    {
        try
        {
            return Butterfly.Infrastructure.Events.EventStores.RepairLog(eventStore, apply, Console.Out);
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            Console.Error.WriteLine($"butterflyd: --repair-log: {e.Message}");
            return Daemon.ExitFailure;
        }
    }
}
