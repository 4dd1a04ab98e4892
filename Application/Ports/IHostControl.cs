namespace Butterfly.Application.Ports;

/// <summary>What the API may ask of the hosting process (app_quit, app_config).</summary>
public interface IHostControl
{
    /// <summary>Asks for a clean shutdown once the current reply has been sent.</summary>
    void RequestShutdown();

    /// <summary>Sets the log level (none, error, warning, info, debug); false if unknown.</summary>
    bool TrySetLogLevel(string level);

    /// <summary>When the daemon started.</summary>
    DateTimeOffset StartedAt { get; }
}
