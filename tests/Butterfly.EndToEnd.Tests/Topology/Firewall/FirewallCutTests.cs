using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Topology.Firewall;

/// <summary>
/// A daemon started with <c>--conntrack-cut-established</c>: a rule change cuts the established
/// connections the new rules refuse (Open vSwitch / Neutron behaviour) instead of letting them
/// idle out; connections the new rules still admit keep going.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class FirewallCutTests(CuttingFirewallFabric fabric) : IClassFixture<CuttingFirewallFabric>
{
    [Fact]
    public async Task A_rule_removal_cuts_the_established_connections_it_no_longer_admits()
    {
        fabric.Reset();
        var (a1, a2) = (fabric.A1, fabric.A2);
        var cutRule = Requests.Rule(V0.Rule.Types.Direction.Inbound, 6, "10.79.0.0/24", 7000, 7000);
        var keptRule = Requests.Rule(V0.Rule.Types.Direction.Inbound, 6, "10.79.0.0/24", 7001, 7001);
        fabric.OnAll(Requests.SgAdd("svc", rules: [cutRule, keptRule]));
        fabric.Groups(a2, "svc");
        using var cut = await TcpSession.OpenAsync(a1, a2, a2.Ipv4, 7000);
        using var kept = await TcpSession.OpenAsync(a1, a2, a2.Ipv4, 7001);
        Assert.NotNull(cut);
        Assert.NotNull(kept);
        Assert.True(await cut.EchoAsync("before"));
        Assert.True(await kept.EchoAsync("before"));

        fabric.OnAll(Requests.SgRuleDel("svc", cutRule));

        Assert.False(await cut.EchoAsync("after"), "the connection on 7000 is cut");
        Assert.True(await kept.EchoAsync("after"), "the connection on 7001 is still admitted");
        Assert.True(fabric.Dropped(a2, "firewall_cut") > 0, "counted as firewall_cut on a2");
    }
}
