using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace Butterfly.Infrastructure.Events.Tests.Support;

/// <summary>A Serilog logger whose events the test can inspect (warnings about torn tails, errors about corruption).</summary>
internal sealed class LogCapture : ILogEventSink
{
    private readonly Lock _gate = new();
    private readonly List<LogEvent> _events = [];

    public LogCapture() => Logger = new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(this).CreateLogger();

    public ILogger Logger { get; }

    public void Emit(LogEvent logEvent)
    {
        lock (_gate)
        {
            _events.Add(logEvent);
        }
    }

    public IReadOnlyList<string> Messages(LogEventLevel level)
    {
        lock (_gate)
        {
            return _events.Where(e => e.Level == level).Select(e => e.RenderMessage()).ToList();
        }
    }
}
