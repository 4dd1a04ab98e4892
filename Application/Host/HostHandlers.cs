using Butterfly.Application.Commands;
using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Mediator;

namespace Butterfly.Application.Host;

// app_status, app_quit, app_config.

/// <summary>app_status: the original's figures, plus every NIC whose port is not working.</summary>
public sealed class GetStatusHandler(IHostControl host, IDataPath dataPath, ConfigurationStore store, TimeProvider? time = null)
    : IQueryHandler<GetStatus, Outcome<AppStatus>>
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public ValueTask<Outcome<AppStatus>> Handle(GetStatus query, CancellationToken cancellationToken) =>
        new(Outcome<AppStatus>.Success(new AppStatus(
            host.StartedAt, _time.GetUtcNow(), query.RequestCounter, dataPath.GraphDot(), store.PortErrors, store.ReconcileError)));
}

/// <summary>app_quit: the host replies first, then shuts down cleanly.</summary>
public sealed class QuitHandler(IHostControl host) : ICommandHandler<Quit, Outcome<Done>>
{
    public ValueTask<Outcome<Done>> Handle(Quit command, CancellationToken cancellationToken)
    {
        host.RequestShutdown();
        return new(Outcome<Done>.Success(default));
    }
}

public sealed class SetLogLevelHandler(IHostControl host) : ICommandHandler<SetLogLevel, Outcome<Done>>
{
    public const string ValidLevels = "none, error, warning, info, debug";

    public ValueTask<Outcome<Done>> Handle(SetLogLevel command, CancellationToken cancellationToken) =>
        host.TrySetLogLevel(command.Level ?? string.Empty)
            ? new(Outcome<Done>.Success(default))
            : new(Outcome<Done>.Failure($"app_config: log_level '{command.Level}' is not a log level: use one of {ValidLevels}"));
}
