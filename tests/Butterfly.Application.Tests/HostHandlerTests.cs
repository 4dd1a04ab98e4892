using Butterfly.Application.Commands;
using Butterfly.Application.Tests.Support;

namespace Butterfly.Application.Tests;

public class HostHandlerTests
{
    [Fact]
    public async Task StatusReportsStartNowCounterAndGraph()
    {
        await using var app = await AppHarness.StartAsync();
        var before = DateTimeOffset.UtcNow;
        var status = (await app.QueryAsync(new GetStatus(42))).Value!;
        Assert.Equal(app.Host.StartedAt, status.StartedAt);
        Assert.InRange(status.Now, before, DateTimeOffset.UtcNow);
        Assert.Equal(42ul, status.RequestCounter);
        Assert.Equal("digraph butterfly {}", status.GraphDot);
    }

    [Fact]
    public async Task QuitAsksTheHostToShutDown()
    {
        await using var app = await AppHarness.StartAsync();
        Assert.True((await app.SendAsync(new Quit())).IsSuccess);
        Assert.Equal(1, app.Host.ShutdownRequests);
    }

    [Fact]
    public async Task LogLevelIsSetOrTheValidOnesAreNamed()
    {
        await using var app = await AppHarness.StartAsync();
        Assert.True((await app.SendAsync(new SetLogLevel("debug"))).IsSuccess);
        Assert.Equal("debug", app.Host.Level);
        var bad = await app.SendAsync(new SetLogLevel("loud"));
        Assert.Equal("app_config: log_level 'loud' is not a log level: use one of none, error, warning, info, debug", bad.Error);
        Assert.Empty(app.Events.Events);
    }
}
