using Butterfly.Api.Zmq.Options;

namespace Butterfly.Api.Zmq.Tests.Options;

/// <summary>--store-timeout (INI store-timeout), --repair-log and --yes.</summary>
public class DurabilityOptionTests
{
    private static readonly string[] Required = ["-i", "10.0.0.1", "-s", "/run/bf"];

    private static LoadedOptions Load(params string[] args) => OptionsLoader.Load(args, _ => throw new FileNotFoundException("no such file"));

    [Fact]
    public void The_store_timeout_defaults_to_five_seconds_and_comes_from_the_command_line_or_the_ini_file()
    {
        Assert.Equal(TimeSpan.FromSeconds(5), Load(Required).Options!.StoreTimeout);
        Assert.Equal(TimeSpan.FromSeconds(2.5), Load([.. Required, "--store-timeout", "2.5"]).Options!.StoreTimeout);
        var fromIni = OptionsLoader.Load(["-c", "b.ini", .. Required], _ => "[general]\nstore-timeout = 12\n");
        Assert.Equal(TimeSpan.FromSeconds(12), fromIni.Options!.StoreTimeout);
        foreach (var bad in new[] { "0", "-1", "x", "601" })
        {
            var failed = Load([.. Required, "--store-timeout", bad]);
            Assert.Equal(StartupAction.Fail, failed.Action);
            Assert.Contains("--store-timeout", failed.Error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Repair_log_needs_no_daemon_settings_and_takes_the_event_store_from_the_command_line_or_the_ini_file()
    {
        var dry = Load("--repair-log", "--event-store", "file:/srv/log");
        Assert.Equal(StartupAction.RepairLog, dry.Action);
        Assert.Equal(("file:/srv/log", false), dry.Repair);
        Assert.Equal(("file:/var/lib/butterfly/events", true), Load("--repair-log", "--yes").Repair);
        var fromIni = OptionsLoader.Load(["-c", "b.ini", "--repair-log"], _ => "[general]\nevent-store = file:/data/events\n");
        Assert.Equal(("file:/data/events", false), fromIni.Repair);
        Assert.Equal(StartupAction.Fail, Load([.. Required, "--yes"]).Action);
    }

    [Fact]
    public void The_log_level_remembers_whether_the_command_line_gave_it()
    {
        Assert.True(Load([.. Required, "-l", "info"]).Options!.LogLevelFromCommandLine);
        var fromIni = OptionsLoader.Load(["-c", "b.ini", .. Required], _ => "[general]\nlog-level = info\n");
        Assert.False(fromIni.Options!.LogLevelFromCommandLine);
        Assert.Equal("debug", OptionsLoader.ReadLogLevel("b.ini", _ => "[general]\nlog-level = debug\n"));
        Assert.Null(OptionsLoader.ReadLogLevel("b.ini", _ => "[general]\nip = 10.0.0.1\n"));
        Assert.Throws<InvalidDataException>(() => OptionsLoader.ReadLogLevel("b.ini", _ => "[general]\nlog-level = loud\n"));
    }
}
