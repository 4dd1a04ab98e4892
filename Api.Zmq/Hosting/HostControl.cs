using Butterfly.Api.Zmq.Logging;
using Butterfly.Application.Ports;
using Serilog;
using Serilog.Core;

namespace Butterfly.Api.Zmq.Hosting;

/// <summary>
/// What the API may ask of the process: app_quit sets a flag the server reads once the
/// group's replies are sent; app_config moves the level of the daemon's logging switch.
/// </summary>
internal sealed class HostControl(LoggingLevelSwitch levelSwitch, ILogger log) : IHostControl
{
    private volatile bool _shutdownRequested;

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    public bool ShutdownRequested => _shutdownRequested;

    public void RequestShutdown() => _shutdownRequested = true;

    public bool TrySetLogLevel(string level)
    {
        if (!LogLevels.TryParse(level, out var minimum))
        {
            return false;
        }

        // Said before the change so that lowering the level to "none" is still on record.
        log.Warning("Log level set to {Level} through the API", level.Trim().ToLowerInvariant());
        levelSwitch.MinimumLevel = minimum;
        return true;
    }
}
