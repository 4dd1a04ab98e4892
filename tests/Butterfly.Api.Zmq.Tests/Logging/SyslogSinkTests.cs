using System.Net.Sockets;
using System.Text;
using Butterfly.Api.Zmq.Logging;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace Butterfly.Api.Zmq.Tests.Logging;

public class SyslogSinkTests
{
    [Theory]
    [InlineData(LogEventLevel.Error, 131)]
    [InlineData(LogEventLevel.Warning, 132)]
    [InlineData(LogEventLevel.Information, 134)]
    [InlineData(LogEventLevel.Debug, 135)]
    [InlineData(LogEventLevel.Fatal, 130)]
    public void Datagrams_are_rfc3164_with_local0_priorities(LogEventLevel level, int pri)
    {
        var time = new DateTimeOffset(2026, 3, 5, 7, 8, 9, TimeSpan.Zero);

        var text = Encoding.UTF8.GetString(SyslogSink.Format(level, time, "butterflyd", 1234, "hello\n"));

        var local = time.ToLocalTime();
        Assert.Equal($"<{pri}>Mar {local.Day,2} {local:HH:mm:ss} butterflyd[1234]: hello", text);
    }

    [Fact]
    public void Long_messages_are_cut_not_dropped()
    {
        var datagram = SyslogSink.Format(LogEventLevel.Error, DateTimeOffset.Now, "b", 1, new string('x', 100_000));

        Assert.Equal(8192, datagram.Length);
    }

    [Fact]
    public void Events_reach_a_unix_datagram_socket()
    {
        var dir = Directory.CreateTempSubdirectory("bft-syslog-");
        var path = Path.Combine(dir.FullName, "log");
        try
        {
            using var server = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            server.Bind(new UnixDomainSocketEndPoint(path));
            server.ReceiveTimeout = 5000;
            using var fallback = new StringWriter();
            using var sink = new SyslogSink(path, "butterflyd", new MessageTemplateTextFormatter("{Message:lj}"), new MessageTemplateTextFormatter("{Message:lj}"), fallback);
            using var logger = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(sink).CreateLogger();

            logger.Warning("NIC {Id} added", "n1");

            var buffer = new byte[9000];
            var text = Encoding.UTF8.GetString(buffer, 0, server.Receive(buffer));
            Assert.StartsWith("<132>", text, StringComparison.Ordinal);
            Assert.EndsWith($"butterflyd[{Environment.ProcessId}]: NIC n1 added", text, StringComparison.Ordinal);
            Assert.Empty(fallback.ToString());
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Without_a_syslog_socket_events_go_to_the_fallback_and_that_is_said_once()
    {
        using var fallback = new StringWriter();
        using var sink = new SyslogSink("/nonexistent/dev/log", "butterflyd", new MessageTemplateTextFormatter("{Message:lj}"), new MessageTemplateTextFormatter("[{Level:u3}] {Message:lj}{NewLine}"), fallback);
        using var logger = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(sink).CreateLogger();

        logger.Error("first");
        logger.Error("second");

        var lines = fallback.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("butterflyd: syslog socket /nonexistent/dev/log is unusable", lines[0], StringComparison.Ordinal);
        Assert.Equal(["[ERR] first", "[ERR] second"], lines[1..]);
    }

    [Theory]
    [InlineData("none", LevelAlias.Off)]
    [InlineData("error", LogEventLevel.Error)]
    [InlineData("warning", LogEventLevel.Warning)]
    [InlineData("INFO", LogEventLevel.Information)]
    [InlineData("debug", LogEventLevel.Debug)]
    public void Level_names_map_to_serilog_levels(string name, LogEventLevel expected)
    {
        Assert.True(LogLevels.TryParse(name, out var level));
        Assert.Equal(expected, level);
    }

    [Fact]
    public void Unknown_level_names_are_refused() => Assert.False(LogLevels.TryParse("verbose", out _));

    [Fact]
    public void The_level_switch_silences_everything_at_none()
    {
        var levelSwitch = new LoggingLevelSwitch(LogEventLevel.Error);
        using var fallback = new StringWriter();
        using var logger = new LoggerConfiguration().MinimumLevel.ControlledBy(levelSwitch)
            .WriteTo.Sink(new SyslogSink("/nonexistent", "b", new MessageTemplateTextFormatter("{Message}"), new MessageTemplateTextFormatter("{Message}{NewLine}"), fallback))
            .CreateLogger();
        Assert.True(LogLevels.TryParse("none", out var none));

        levelSwitch.MinimumLevel = none;
        logger.Fatal("unseen");

        Assert.Empty(fallback.ToString());
    }
}
