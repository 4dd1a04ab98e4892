using System.Runtime.InteropServices;
using Butterfly.Api.Zmq.Logging;
using Butterfly.Api.Zmq.Metrics;
using Butterfly.Api.Zmq.Options;
using Butterfly.Api.Zmq.Server;
using Butterfly.Api.Zmq.Server.Curve;
using Butterfly.Api.Zmq.Server.Transport;
using Butterfly.Application;
using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk;
using Butterfly.Infrastructure.Events;
using Butterfly.Wire;
using Mediator;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serilog;
using Serilog.Core;
using ILogger = Serilog.ILogger;

namespace Butterfly.Api.Zmq.Hosting;

/// <summary>
/// The composition root of butterflyd: logging, the event store, the data path, the
/// application services, the configuration restored from the log, then the API. Every
/// start-up failure is one line on stderr and exit code 1; SIGINT, SIGTERM, SIGQUIT and
/// app_quit stop the API after the group in progress, dispose the data path (which runs
/// rte_eal_cleanup) and the store, and exit 0.
/// </summary>
internal static class Daemon
{
    public const int ExitFailure = 1;

    public static int Run(DaemonOptions options, IReadOnlyList<string> warnings)
    {
        using var shutdown = new CancellationTokenSource();
        // Registered first, so a signal during a slow start-up (replaying a long log) still
        // leads to a clean stop instead of the runtime's abrupt default.
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => OnSignal(c, shutdown));
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => OnSignal(c, shutdown));
        using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, c => OnSignal(c, shutdown));
        // SIGHUP reloads what can change at run time and never stops the daemon.
        Action reload = () => { };
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            reload();
        });

        byte[]? key = null;
        if (options.KeyFile is not null)
        {
            key = LegacyEnvelope.TryLoadKeyFile(options.KeyFile, out var keyError);
            if (key is null)
            {
                return Fail(null, keyError!);
            }
        }

        var curveError = LoadCurve(options, out var curve);
        if (curveError is not null)
        {
            return Fail(null, curveError);
        }

        // The options were checked by OptionsLoader, so the level name is known.
        _ = LogLevels.TryParse(options.LogLevel, out var level);
        var levelSwitch = new LoggingLevelSwitch(level);
        using var logger = DaemonLogging.Create(levelSwitch, options.NoSyslog);
        logger.Information("butterflyd starting: {Version}", VersionInfo.Line);
        if (Signals.WereReset)
        {
            logger.Information("SIGINT/SIGQUIT/SIGHUP were inherited ignored (a background or nohup start): reset to their default and re-executed, so they reach the daemon's handlers (stop, stop, reload)");
        }
        reload = () => Reload(options, levelSwitch, logger, curve);
        foreach (var warning in warnings)
        {
            logger.Warning("{Warning}", warning);
        }

        logger.Information(key is null ? "No encryption configured" : "Encryption key loaded: clear API requests are refused");
        try
        {
            return Serve(options, key, curve, levelSwitch, logger, shutdown.Token);
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            logger.Information("Stopped by a signal during start-up");
            return 0;
        }
        catch (Exception e)
        {
            return Fail(options.NoSyslog ? null : logger, $"unexpected failure: {e.Message}", e);
        }
    }

    /// <summary>libzmq (the API socket) and, with --curve-key, the key pair and the allow-list; null when all is well.</summary>
    private static string? LoadCurve(DaemonOptions options, out CurveSecurity? curve)
    {
        curve = null;
        if (LibZmq.Unavailable(curve: options.CurveKeyFile is not null) is { } missing)
        {
            return missing;
        }
        if (options.CurveKeyFile is null)
        {
            return null;
        }
        try
        {
            curve = CurveSecurity.Load(options.CurveKeyFile, options.CurveAllowPath!);
            return null;
        }
        catch (InvalidDataException e)
        {
            return $"CURVE: {e.Message}";
        }
    }

    private static int Serve(DaemonOptions options, byte[]? key, CurveSecurity? curve, LoggingLevelSwitch levelSwitch, Logger logger, CancellationToken shutdown)
    {
        IEventStore store;
        try
        {
            store = EventStores.OpenAsync(options.EventStore, logger, options.StoreTimeout, options.HostId, shutdown).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Fail(options.NoSyslog ? null : logger, $"cannot open the event store '{EventStores.Redact(options.EventStore)}': {e.Message}", e);
        }

        try
        {
            DpdkDataPath dataPath;
            try
            {
                dataPath = DpdkDataPath.Start(
                    new DataPathOptions(options.SocketDir, options.DpdkArgs, options.GraphCpuCore, options.DpdkPort,
                        options.NicMtu, options.PacketTrace, options.NoOffload, options.Ip, options.VxlanPeers,
                        options.IpPrefixLength, options.VxlanGateway, options.FdbAgeingSeconds, options.ConntrackMax,
                        options.ConntrackTimeouts, options.ConntrackCutEstablished, options.PacketTraceMaxSize, options.PacketTraceFiles,
                        options.PacketTraceSnaplen, options.PacketTraceUnderlay, options.GraphNice),
                    logger);
            }
            catch (Exception e)
            {
                return Fail(options.NoSyslog ? null : logger, $"cannot start the data path: {e.Message}", e);
            }

            using (dataPath)
            {
                return ServeWith(options, key, curve, levelSwitch, logger, store, dataPath, shutdown);
            }
        }
        finally
        {
            store.DisposeAsync().AsTask().GetAwaiter().GetResult();
            logger.Information("Event store closed");
        }
    }

    private static int ServeWith(DaemonOptions options, byte[]? key, CurveSecurity? curve, LoggingLevelSwitch levelSwitch, Logger logger,
        IEventStore store, IDataPath dataPath, CancellationToken shutdown)
    {
        var host = new HostControl(levelSwitch, logger);
        using var metrics = MetricsHost.Create(options.MetricsEndpoint, dataPath);
        var services = new ServiceCollection()
            .AddButterflyApplication()
            .AddSingleton(metrics?.Wrap(store) ?? store)
            .AddSingleton(dataPath)
            .AddSingleton<IHostControl>(host)
            .AddSingleton(TimeProvider.System)
            // Serilog's level switch decides what is logged, so the bridge lets everything through.
            .AddLogging(b => b.AddSerilog(logger).SetMinimumLevel(LogLevel.Trace));
        using var provider = services.BuildServiceProvider();

        var configuration = provider.GetRequiredService<ConfigurationStore>();
        // The store answers (or gives up) within the timeout; the API's own bound is a little
        // longer, so the store's precise answer normally arrives first.
        configuration.WriteTimeout = options.StoreTimeout + TimeSpan.FromMilliseconds(500);
        try
        {
            configuration.LoadAsync(shutdown).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Fail(options.NoSyslog ? null : logger, $"cannot restore the configuration from {store.Description}: {e.Message}", e);
        }

        if (metrics?.Start(configuration) is { } metricsError)
        {
            return Fail(options.NoSyslog ? null : logger, metricsError);
        }
        if (metrics is not null)
        {
            logger.Information("Metrics served at {Endpoint}", metrics);
        }

        var dispatcher = new MessageDispatcher(provider.GetRequiredService<IMediator>(), dataPath, options.PacketTrace, logger);
        using var server = new ApiServer(options.Endpoint, new RequestEnvelope(key), dispatcher, configuration, () => host.ShutdownRequested, logger,
            options.StoreTimeout, curve)
        {
            Metrics = metrics?.Metrics,
        };
        var bindError = server.Bind();
        if (bindError is not null)
        {
            return Fail(options.NoSyslog ? null : logger, bindError);
        }

        // Replayed, reconciled and bound: a Type=notify unit is started now (systemctl start returns).
        if (SystemdNotify.Ready($"serving {options.Endpoint}, {configuration.LastSequence} events") is { } notifyError)
        {
            logger.Warning("{Error}", notifyError);
        }
        // Opening the log scans every record and replay builds the state event by event: the
        // garbage of a long history would otherwise stay committed in the GC heap for the
        // daemon's lifetime (a non-concurrent GC hands memory back only when it compacts);
        // ≈ 3.5 MiB of RSS after a million events.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        using (shutdown.Register(server.Stop))
        {
            server.Run();
        }

        _ = SystemdNotify.Stopping();
        logger.Information("butterflyd stopping");
        // Lets the socket's linger deliver the last replies (app_quit's) before exit.
        server.Dispose();
        return 0;
    }

    /// <summary>SIGHUP: the CURVE allow-list, and the log level from the INI file (unless -l gave it on the command line).</summary>
    private static void Reload(DaemonOptions options, LoggingLevelSwitch levelSwitch, ILogger logger, CurveSecurity? curve)
    {
        curve?.Reload(logger);
        if (options.ConfigFile is null)
        {
            if (curve is null)
            {
                logger.Warning("SIGHUP: nothing to reload (no configuration file, -c)");
            }
            return;
        }
        try
        {
            var level = OptionsLoader.ReadLogLevel(options.ConfigFile, File.ReadAllText);
            if (level is null || options.LogLevelFromCommandLine)
            {
                logger.Warning("SIGHUP: {File} read; log level unchanged ({Why})", options.ConfigFile,
                    level is null ? "the file sets none" : "-l on the command line wins");
                return;
            }
            _ = LogLevels.TryParse(level, out var minimum);
            // Said under whichever of the two levels lets a warning through, so the change is on record.
            var hidesWarnings = minimum > Serilog.Events.LogEventLevel.Warning;
            if (hidesWarnings)
            {
                logger.Warning("SIGHUP: log level set to {Level} from {File}", level, options.ConfigFile);
            }
            levelSwitch.MinimumLevel = minimum;
            if (!hidesWarnings)
            {
                logger.Warning("SIGHUP: log level set to {Level} from {File}", level, options.ConfigFile);
            }
        }
        catch (InvalidDataException e)
        {
            logger.Error("SIGHUP: {Error}; nothing changed", e.Message);
        }
    }

    private static void OnSignal(PosixSignalContext context, CancellationTokenSource shutdown)
    {
        // Handled here: the default action would end the process without cleaning up DPDK.
        context.Cancel = true;
        shutdown.Cancel();
    }

    /// <summary>One clear line on stderr (and in syslog when that is where logs go).</summary>
    private static int Fail(ILogger? logger, string message, Exception? exception = null)
    {
        logger?.Error(exception, "{Message}", message);
        Console.Error.WriteLine($"butterflyd: {message}");
        return ExitFailure;
    }
}
