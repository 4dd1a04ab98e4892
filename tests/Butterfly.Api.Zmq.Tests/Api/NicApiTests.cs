using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Api;

public class NicApiTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private readonly ApiClient _api = fixture.Client;

    [Fact]
    public void Nic_add_creates_a_vhost_user_socket_and_returns_its_path()
    {
        var id = Ids.New("n");

        var response = ApiAssert.Ok(_api.Call(Requests.NicAdd(id, "52:54:00:00:d7:11", 12, ["10.0.0.1"])));

        Assert.Equal(Path.Combine(fixture.Daemon.SocketDir, "qemu-vhost-" + id), response.NicAdd.Path); // the original's name
        Assert.True(File.Exists(response.NicAdd.Path), "the vhost-user socket exists once nic_add is acknowledged");
        Assert.Contains(id, ApiAssert.Ok(_api.Call(Requests.NicList())).NicList);
    }

    [Fact]
    public void Nic_details_shows_every_field_normalised()
    {
        var id = Ids.New("n");
        var nic = Requests.Nic(id, "52:54:00:AB:CD:EF", 77, ["2001:0db8::0001", "10.0.0.5", "10.0.0.5"], ["sgb", "sga", "sgb"]);
        nic.IpAntiSpoof = true;
        nic.BypassFiltering = true;
        ApiAssert.Ok(_api.Call(Requests.NicAdd(nic)));

        var details = Assert.Single(ApiAssert.Ok(_api.Call(Requests.NicDetails(id))).NicDetails);

        Assert.Equal(id, details.Id);
        Assert.Equal("52:54:00:ab:cd:ef", details.Mac);
        Assert.Equal(77u, details.Vni);
        Assert.Equal(["2001:db8::1", "10.0.0.5"], details.Ip);
        Assert.Equal(["sgb", "sga"], details.SecurityGroup);
        Assert.True(details.IpAntiSpoof);
        Assert.True(details.BypassFiltering);
        Assert.Equal(V0.Nic.Types.Type.VhostUserServer, details.Type);
        Assert.True(details.HasType);
        Assert.Equal(Path.Combine(fixture.Daemon.SocketDir, "qemu-vhost-" + id), details.Path);
        Assert.Equal($"/tmp/butterfly-{id}.pcap", details.PacketTracePath); // the default, like the original
        Assert.False(details.HasPortError);
    }

    [Fact]
    public void A_given_packet_trace_path_is_shown_as_given()
    {
        var id = Ids.New("n");
        var nic = Requests.Nic(id);
        nic.PacketTracePath = "/var/tmp/" + id + ".pcap";
        ApiAssert.Ok(_api.Call(Requests.NicAdd(nic)));

        Assert.Equal("/var/tmp/" + id + ".pcap", Assert.Single(ApiAssert.Ok(_api.Call(Requests.NicDetails(id))).NicDetails).PacketTracePath);
    }

    [Fact]
    public void A_relative_or_shared_packet_trace_path_is_refused_with_the_reason()
    {
        var first = Ids.New("n");
        var second = Ids.New("n");
        var relative = Requests.Nic(first);
        relative.PacketTrace = true;
        relative.PacketTracePath = first + ".pcap";
        ApiAssert.Fails(_api.Call(Requests.NicAdd(relative)), $"NIC '{first}': packet_trace_path '{first}.pcap' is not an absolute path");

        var dir = Directory.CreateTempSubdirectory("bf-trace-").FullName;
        relative.PacketTracePath = Path.Combine(dir, first + ".pcap");
        ApiAssert.Ok(_api.Call(Requests.NicAdd(relative)));
        var sharing = Requests.Nic(second);
        sharing.PacketTrace = true;
        sharing.PacketTracePath = relative.PacketTracePath;
        ApiAssert.Fails(_api.Call(Requests.NicAdd(sharing)), $"is already the capture of NIC '{first}'");
        Assert.DoesNotContain(second, ApiAssert.Ok(_api.Call(Requests.NicList())).NicList);
        ApiAssert.Ok(_api.Call(Requests.NicDel(first)));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void A_mac_already_used_in_the_vni_is_refused_and_nothing_is_stored()
    {
        var first = Ids.New("n");
        var second = Ids.New("n");
        var mac = Requests.MacOf(first);
        ApiAssert.Ok(_api.Call(Requests.NicAdd(first, mac, 31)));
        var events = ApiAssert.Ok(_api.Call(new V0.Request { EventList = new V0.EventListReq() })).EventList.LastSequence;

        ApiAssert.Fails(_api.Call(Requests.NicAdd(second, mac.ToUpperInvariant(), 31)),
            $"NIC '{second}': mac {mac} is already used by NIC '{first}' in vni 31");

        Assert.DoesNotContain(second, ApiAssert.Ok(_api.Call(Requests.NicList())).NicList);
        Assert.Equal(events, ApiAssert.Ok(_api.Call(new V0.Request { EventList = new V0.EventListReq() })).EventList.LastSequence);
        Assert.False(File.Exists(Path.Combine(fixture.Daemon.SocketDir, "qemu-vhost-" + second)));
        ApiAssert.Ok(_api.Call(Requests.NicAdd(second, mac, 32))); // another VNI
    }

    [Fact]
    public void Two_nics_with_one_mac_in_one_message_the_second_is_refused()
    {
        var first = Ids.New("n");
        var second = Ids.New("n");
        var mac = Requests.MacOf(first);

        var reply = _api.Send(Requests.Batch([Requests.NicAdd(first, mac, 33), Requests.NicAdd(second, mac, 33)]));

        ApiAssert.Ok(reply.Messages_[0].Message0.Response);
        ApiAssert.Fails(reply.Messages_[1].Message0.Response, $"mac {mac} is already used by NIC '{first}'");
        var list = ApiAssert.Ok(_api.Call(Requests.NicList())).NicList;
        Assert.Contains(first, list);
        Assert.DoesNotContain(second, list);
    }

    [Fact]
    public void Nic_list_and_all_details_are_sorted_by_id()
    {
        var ids = new[] { "z" + Ids.New(""), "a" + Ids.New(""), "m" + Ids.New("") };
        foreach (var id in ids)
        {
            ApiAssert.Ok(_api.Call(Requests.NicAdd(id)));
        }

        var list = ApiAssert.Ok(_api.Call(Requests.NicList())).NicList.ToList();
        var all = ApiAssert.Ok(_api.Call(Requests.NicDetails(""))).NicDetails.Select(n => n.Id).ToList();

        Assert.Equal(list.Order(StringComparer.Ordinal), list);
        Assert.Equal(list, all);
        Assert.Subset(list.ToHashSet(), ids.ToHashSet());
    }

    [Fact]
    public void Nic_add_with_an_existing_id_replaces_the_nic()
    {
        var id = Ids.New("n");
        ApiAssert.Ok(_api.Call(Requests.NicAdd(id, vni: 1, ips: ["10.0.0.1"])));

        ApiAssert.Ok(_api.Call(Requests.NicAdd(id, "52:54:00:00:00:99", 2, ["10.0.0.2"])));

        var details = Assert.Single(ApiAssert.Ok(_api.Call(Requests.NicDetails(id))).NicDetails);
        Assert.Equal((2u, "52:54:00:00:00:99"), (details.Vni, details.Mac));
        Assert.Equal(["10.0.0.2"], details.Ip);
        Assert.Single(ApiAssert.Ok(_api.Call(Requests.NicList())).NicList, n => n == id);
    }

    [Fact]
    public void Nic_add_is_idempotent()
    {
        var id = Ids.New("n");
        var first = ApiAssert.Ok(_api.Call(Requests.NicAdd(id, ips: ["10.1.0.1"])));

        var second = ApiAssert.Ok(_api.Call(Requests.NicAdd(id, ips: ["10.1.0.1"])));

        Assert.Equal(first.NicAdd.Path, second.NicAdd.Path);
        Assert.Equal(["10.1.0.1"], Assert.Single(_api.Call(Requests.NicDetails(id)).NicDetails).Ip);
    }

    [Fact]
    public void Nic_del_removes_and_unknown_ids_are_not_an_error()
    {
        var id = Ids.New("n");
        var path = ApiAssert.Ok(_api.Call(Requests.NicAdd(id))).NicAdd.Path;

        ApiAssert.Ok(_api.Call(Requests.NicDel(id)));
        ApiAssert.Ok(_api.Call(Requests.NicDel(id)));
        ApiAssert.Ok(_api.Call(Requests.NicDel(Ids.New("never"))));

        Assert.DoesNotContain(id, _api.Call(Requests.NicList()).NicList);
        Assert.False(File.Exists(path), "the vhost-user socket is removed with its NIC");
        ApiAssert.Fails(_api.Call(Requests.NicDetails(id)), "nic_details", "no NIC has id", id);
    }

    [Fact]
    public void Nic_update_replaces_clears_or_keeps_lists()
    {
        var id = Ids.New("n");
        ApiAssert.Ok(_api.Call(Requests.NicAdd(id, ips: ["10.0.0.1"], sgs: ["sg1"])));
        V0.Nic Details() => Assert.Single(ApiAssert.Ok(_api.Call(Requests.NicDetails(id))).NicDetails);

        ApiAssert.Ok(_api.Call(Requests.NicUpdate(new V0.NicUpdateReq { Id = id, Ip = { "10.0.0.2", "10.0.0.3" } })));
        Assert.Equal(["10.0.0.2", "10.0.0.3"], Details().Ip);
        Assert.Equal(["sg1"], Details().SecurityGroup);

        ApiAssert.Ok(_api.Call(Requests.NicUpdate(new V0.NicUpdateReq { Id = id, SecurityGroup = { "" } })));
        Assert.Empty(Details().SecurityGroup);
        Assert.Equal(["10.0.0.2", "10.0.0.3"], Details().Ip);

        ApiAssert.Ok(_api.Call(Requests.NicUpdate(new V0.NicUpdateReq { Id = id, Ip = { "" }, IpAntiSpoof = true })));
        Assert.Empty(Details().Ip);
        Assert.True(Details().IpAntiSpoof);
    }

    [Fact]
    public void Nic_update_of_an_unknown_nic_fails()
    {
        var id = Ids.New("none");

        ApiAssert.Fails(_api.Call(Requests.NicUpdate(new V0.NicUpdateReq { Id = id, IpAntiSpoof = true })), id);
    }

    [Fact]
    public void Nic_stats_and_export_answer_for_a_nic_and_fail_for_an_unknown_one()
    {
        var id = Ids.New("n");
        ApiAssert.Ok(_api.Call(Requests.NicAdd(id)));

        var stats = ApiAssert.Ok(_api.Call(Requests.NicStats(id))).NicStats;
        var export = ApiAssert.Ok(_api.Call(Requests.NicExport(id))).NicExport;

        Assert.Equal((0ul, 0ul), (stats.In, stats.Out));
        Assert.True(export.FwData.HasData);
        ApiAssert.Fails(_api.Call(Requests.NicStats("nope")), "nope");
        ApiAssert.Fails(_api.Call(Requests.NicExport("nope")), "nope");
    }

    [Fact]
    public void A_tap_nic_gets_a_kernel_interface_named_after_it()
    {
        var id = Ids.New("t");

        var response = ApiAssert.Ok(_api.Call(Requests.NicAdd(id, "52:54:00:12:34:56", 5, type: V0.Nic.Types.Type.Tap)));

        Assert.Equal(id, response.NicAdd.Path);
        Assert.True(Directory.Exists("/sys/class/net/" + id), "tap interface exists");
        Assert.Equal("52:54:00:12:34:56", File.ReadAllText($"/sys/class/net/{id}/address").Trim());
        Assert.Equal(V0.Nic.Types.Type.Tap, Assert.Single(_api.Call(Requests.NicDetails(id)).NicDetails).Type);

        ApiAssert.Ok(_api.Call(Requests.NicDel(id)));
        Assert.False(Directory.Exists("/sys/class/net/" + id), "tap interface removed with its NIC");
    }

    [Theory]
    [InlineData("52:54:00:00:d7", 1u, "10.0.0.1", "mac", "52:54:00:00:d7")]
    [InlineData("ff:ff:ff:ff:ff:ff", 1u, "10.0.0.1", "broadcast")]
    [InlineData("52:54:00:00:d7:11", 16777216u, "10.0.0.1", "vni 16777216")]
    [InlineData("52:54:00:00:d7:11", 1u, "10.0.0.300", "ip[0]", "10.0.0.300")]
    [InlineData("52:54:00:00:d7:11", 1u, "", "ip[0] is empty")]
    public void Invalid_nics_are_refused_with_a_description_naming_the_field(string mac, uint vni, string ip, params string[] expected)
    {
        var id = Ids.New("bad");

        ApiAssert.Fails(_api.Call(Requests.NicAdd(id, mac, vni, [ip])), expected);

        Assert.DoesNotContain(id, _api.Call(Requests.NicList()).NicList);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("a/b", "contains '/'")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789", "characters long")]
    public void Bad_nic_ids_are_refused(string id, string expected)
    {
        ApiAssert.Fails(_api.Call(Requests.NicAdd(id)), expected);
    }
}
