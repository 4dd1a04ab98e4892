using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>One running butterflyd shared by the tests of a class (they use distinct ids).</summary>
public sealed class DaemonFixture : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;

    public ApiClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Daemon = await DaemonProcess.StartAsync();
        Client = Daemon.CreateClient(TimeSpan.FromSeconds(30));
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Daemon.DisposeAsync();
    }
}

/// <summary>Unique, valid ids (NIC ids name sockets and tap interfaces: at most 15 characters).</summary>
internal static class Ids
{
    public static string New(string prefix) => prefix + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));
}

internal static class ApiAssert
{
    public static MessageV0.Types.Response Ok(MessageV0.Types.Response response)
    {
        Assert.True(response.Status.Status_, $"expected success, got: {response.Status.Error?.Description}");
        Assert.Null(response.Status.Error);
        return response;
    }

    /// <summary>Asserts failure with a description containing every fragment.</summary>
    public static string Fails(MessageV0.Types.Response response, params string[] fragments)
    {
        Assert.False(response.Status.Status_, $"expected a failure, got success: {response}");
        var description = response.Status.Error?.Description;
        Assert.False(string.IsNullOrWhiteSpace(description), "a failure must say why");
        foreach (var fragment in fragments)
        {
            Assert.Contains(fragment, description, StringComparison.Ordinal);
        }

        return description!;
    }
}
