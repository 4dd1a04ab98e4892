using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Mediator;
using Microsoft.Extensions.DependencyInjection;

namespace Butterfly.Application.Tests.Support;

/// <summary>The application as the host wires it: real DI container, mediator and store, test doubles for the ports.</summary>
internal sealed class AppHarness : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private AppHarness(InMemoryEventStore events, RecordingDataPath dataPath, TimeProvider? time)
    {
        Events = events;
        DataPath = dataPath;
        _services = new ServiceCollection()
            .AddSingleton(time ?? TimeProvider.System)
            .AddSingleton<IEventStore>(events)
            .AddSingleton<IDataPath>(dataPath)
            .AddSingleton<IHostControl>(Host)
            .AddButterflyApplication()
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    public static readonly RequestOrigin Origin = new("tcp://127.0.0.1:5000", "m-1");

    /// <summary>A unicast MAC that depends only on <paramref name="id"/>, so the NICs of a test never share one in a VNI.</summary>
    public static string MacOf(string id)
    {
        var hash = 2166136261u; // FNV-1a
        foreach (var c in id)
            hash = (hash ^ c) * 16777619u;
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"52:54:{hash >> 24:x2}:{(hash >> 16) & 0xff:x2}:{(hash >> 8) & 0xff:x2}:{hash & 0xff:x2}");
    }

    public InMemoryEventStore Events { get; }

    public RecordingDataPath DataPath { get; }

    public FakeHostControl Host { get; } = new();

    public IMediator Mediator => _services.GetRequiredService<IMediator>();

    public ConfigurationStore Store => _services.GetRequiredService<ConfigurationStore>();

    /// <summary>A started application over <paramref name="events"/> (a fresh log by default).</summary>
    public static async Task<AppHarness> StartAsync(InMemoryEventStore? events = null, RecordingDataPath? dataPath = null, TimeProvider? time = null)
    {
        var harness = new AppHarness(events ?? new InMemoryEventStore(), dataPath ?? new RecordingDataPath(), time);
        await harness.Store.LoadAsync(CancellationToken.None);
        return harness;
    }

    /// <summary>Sends a command and commits like the API host does after each request message.</summary>
    public async Task<TResponse> SendAsync<TResponse>(ICommand<TResponse> command)
    {
        var result = await Mediator.Send(command);
        var error = await Store.CommitAsync(CancellationToken.None);
        Assert.Null(error);
        return result;
    }

    public async Task<TResponse> QueryAsync<TResponse>(IQuery<TResponse> query) => await Mediator.Send(query);

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
