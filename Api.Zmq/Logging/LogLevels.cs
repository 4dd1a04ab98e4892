using Serilog.Events;

namespace Butterfly.Api.Zmq.Logging;

/// <summary>The daemon's log level names (none, error, warning, info, debug) and their Serilog levels.</summary>
internal static class LogLevels
{
    public static readonly IReadOnlyList<string> Names = ["none", "error", "warning", "info", "debug"];

    /// <summary>Maps a name (case-insensitive) to a minimum level; "none" is <see cref="LevelAlias.Off"/>.</summary>
    public static bool TryParse(string? name, out LogEventLevel level)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case "none":
                level = LevelAlias.Off;
                return true;
            case "error":
                level = LogEventLevel.Error;
                return true;
            case "warning":
                level = LogEventLevel.Warning;
                return true;
            case "info":
                level = LogEventLevel.Information;
                return true;
            case "debug":
                level = LogEventLevel.Debug;
                return true;
            default:
                level = default;
                return false;
        }
    }
}
