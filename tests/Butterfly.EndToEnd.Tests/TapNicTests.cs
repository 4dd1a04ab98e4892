using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.EndToEnd.Tests;

/// <summary>A TAP NIC is a kernel tap named after the NIC id, with the NIC's MAC.</summary>
[Collection(EndToEndCollection.Name)]
public sealed class TapNicTests
{
    [Fact]
    public async Task A_tap_nic_appears_with_its_mac_and_disappears_on_nic_del()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = daemon.CreateClient();
        var name = "bft" + daemon.Port;
        var nic = TestKit.Requests.Nic(name, "52:54:00:12:34:56", 5);
        nic.Type = MessageV0.Types.Nic.Types.Type.Tap;

        Assert.Equal(name, client.CallOk(TestKit.Requests.NicAdd(nic)).NicAdd.Path);
        Assert.Equal("52:54:00:12:34:56", Kernel.MacOf(name));
        var details = Assert.Single(client.CallOk(TestKit.Requests.NicDetails(name)).NicDetails);
        Assert.Equal(MessageV0.Types.Nic.Types.Type.Tap, details.Type);

        client.CallOk(TestKit.Requests.NicDel(name));
        Assert.False(Kernel.InterfaceExists(name));
    }

    [Fact]
    public async Task A_tap_name_the_kernel_cannot_take_is_refused_with_a_reason()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var client = daemon.CreateClient();
        var nic = TestKit.Requests.Nic("a-name-much-too-long-for-linux", "52:54:00:12:34:57", 5);
        nic.Type = MessageV0.Types.Nic.Types.Type.Tap;

        var response = client.Call(TestKit.Requests.NicAdd(nic));
        Assert.False(response.Status.Status_);
        Assert.Contains("15", response.Status.Error.Description, StringComparison.Ordinal);
        Assert.Empty(ConfigurationProbe.NicIds(client));
    }
}
