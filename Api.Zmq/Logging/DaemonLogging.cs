using System.Globalization;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Sinks.SystemConsole.Themes;

namespace Butterfly.Api.Zmq.Logging;

/// <summary>
/// Builds the daemon's Serilog logger: stderr with --no-syslog, syslog otherwise, behind
/// one <see cref="LoggingLevelSwitch"/> so that app_config can change the level at run time.
/// </summary>
internal static class DaemonLogging
{
    public const string SyslogSocket = "/dev/log";

    private const string StderrTemplate = "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} [{Level:u3}] {Message:lj}{NewLine}{Exception}";
    private const string SyslogTemplate = "{Message:lj}{NewLine}{Exception}";

    public static Logger Create(LoggingLevelSwitch levelSwitch, bool toStderr, string syslogSocket = SyslogSocket)
    {
        var config = new LoggerConfiguration().MinimumLevel.ControlledBy(levelSwitch);
        var stderrFormatter = new MessageTemplateTextFormatter(StderrTemplate, CultureInfo.InvariantCulture);
        if (toStderr)
        {
            // Every level to stderr: stdout is kept for the -h / -V / --dpdk-help output.
            config = config.WriteTo.Console(
                outputTemplate: StderrTemplate,
                formatProvider: CultureInfo.InvariantCulture,
                standardErrorFromLevel: LogEventLevel.Verbose,
                theme: ConsoleTheme.None);
        }
        else
        {
            var syslogFormatter = new MessageTemplateTextFormatter(SyslogTemplate, CultureInfo.InvariantCulture);
            config = config.WriteTo.Sink(new SyslogSink(syslogSocket, "butterflyd", syslogFormatter, stderrFormatter, Console.Error));
        }

        return config.CreateLogger();
    }
}
