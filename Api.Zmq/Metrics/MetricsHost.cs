using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk;
using Prometheus;

namespace Butterfly.Api.Zmq.Metrics;

/// <summary>
/// The metrics endpoint of butterflyd (<c>--metrics-endpoint</c>): the <see cref="DaemonMetrics"/>,
/// the event store decorated to time its appends, and prometheus-net's HTTP listener serving
/// <c>GET /metrics</c> in the text exposition format. Each scrape runs on a thread of the
/// listener's; nothing here runs on the packet thread. Made only when the option is given.
/// </summary>
internal sealed class MetricsHost : IDisposable
{
    private readonly MetricsEndpoint _endpoint;
    private ConfigurationStore? _configuration;
    private MetricServer? _server;

    private MetricsHost(MetricsEndpoint endpoint, IDataPath dataPath)
    {
        _endpoint = endpoint;
        var reader = dataPath as DpdkDataPath;
        Metrics = new DaemonMetrics(() => reader?.ReadForMetrics(), ReadConfiguration);
    }

    public DaemonMetrics Metrics { get; }

    /// <summary>The host when <paramref name="endpoint"/> is given, else null (metrics off).</summary>
    public static MetricsHost? Create(MetricsEndpoint? endpoint, IDataPath dataPath) =>
        endpoint is { } e ? new MetricsHost(e, dataPath) : null;

    /// <summary>The store the application should use: <paramref name="store"/> with its appends and snapshots observed.</summary>
    public IEventStore Wrap(IEventStore store) => new MeasuredEventStore(store, Metrics);

    /// <summary>
    /// Starts serving once the configuration is loaded; returns why the endpoint cannot be
    /// served (address in use, not an address of this host), or null.
    /// </summary>
    public string? Start(ConfigurationStore configuration)
    {
        _configuration = configuration;
        var server = new MetricServer(_endpoint.ListenerHost, _endpoint.Port, "metrics/", Metrics.Registry);
        try
        {
            server.Start();
        }
        catch (Exception e) when (e is System.Net.HttpListenerException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            server.Dispose();
            return $"cannot serve metrics at {_endpoint}: {e.Message}";
        }
        _server = server;
        return null;
    }

    /// <summary>Stops serving; a scrape in progress finishes first. Before the data path is disposed.</summary>
    public void Dispose()
    {
        _server?.Dispose();
        _server = null;
    }

    public override string ToString() => _endpoint.ToString();

    private ConfigurationReading ReadConfiguration()
    {
        // The API thread replaces State by reference and writes LastSequence (64-bit, atomic on
        // x86-64); a scrape may see either the old or the new value, never a torn one.
        if (Volatile.Read(ref _configuration) is not { } configuration)
        {
            return default;
        }
        var state = configuration.State;
        return new ConfigurationReading(configuration.LastSequence, state.Nics.Count, state.Groups.Count);
    }
}
