using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;

namespace Butterfly.Domain.Tests.Configuration;

/// <summary>nic_add against the current state: one MAC per VNI, and the socket path a NIC keeps.</summary>
public class NicAddDecisionTests
{
    private static NicSpec Vhost(string id, string mac = "52:54:00:00:00:01", uint vni = 1) => new(id, mac, vni, [], []);

    private static string NewPath(NicSpec nic) => "/run/bf/qemu-vhost-" + nic.Id;

    private static ConfigurationState Add(ConfigurationState state, NicSpec nic) =>
        state.ApplyAll(state.DecideAddNic(nic, NewPath).Value!);

    [Fact]
    public void A_mac_already_used_in_the_vni_is_refused()
    {
        var state = Add(ConfigurationState.Empty, Vhost("vm1"));

        var refused = state.DecideAddNic(Vhost("vm2", "52:54:00:00:00:01"), NewPath);
        Assert.Equal(
            "NIC 'vm2': mac 52:54:00:00:00:01 is already used by NIC 'vm1' in vni 1: two NICs of one VNI cannot share a MAC "
            + "(frames to it could reach only one of them); give NIC 'vm2' another MAC, or delete NIC 'vm1' or change its MAC first",
            refused.Error);
        Assert.False(state.DecideAddNic(Vhost("vm2", "52:54:00:00:00:01") with { Type = NicType.Tap }, NewPath).IsValid);
        Assert.False(state.DecideAddNic(Vhost("vm2", "52:54:00:00:00:01".ToUpperInvariant()), NewPath).IsValid);
    }

    [Fact]
    public void The_same_mac_in_another_vni_or_on_the_nic_it_replaces_is_accepted()
    {
        var state = Add(ConfigurationState.Empty, Vhost("vm1"));

        Assert.True(state.DecideAddNic(Vhost("vm2", vni: 2), NewPath).IsValid);
        Assert.True(state.DecideAddNic(Vhost("vm1") with { Ips = ["10.0.0.1"] }, NewPath).IsValid);

        // Once vm1 is gone or has moved to another MAC, its MAC is free.
        Assert.True(state.ApplyAll(state.DecideRemoveNic("vm1")).DecideAddNic(Vhost("vm2"), NewPath).IsValid);
        var moved = Add(state, Vhost("vm1", "52:54:00:00:00:02"));
        Assert.True(moved.DecideAddNic(Vhost("vm2"), NewPath).IsValid);
    }

    [Fact]
    public void Shared_macs_of_older_logs_are_found()
    {
        var state = Add(ConfigurationState.Empty, Vhost("a"));
        Assert.Null(state.SharedMac());

        // What a log written before nic_add refused it may hold.
        var old = state.Apply(new NicAdded(Vhost("b", "52:54:00:00:00:01".ToUpperInvariant())));
        var (first, second) = old.SharedMac()!.Value;
        Assert.Equal(("a", "b"), (first.Id, second.Id));
        Assert.Null(old.Apply(new NicAdded(Vhost("c", vni: 9))).Apply(new NicRemoved("b")).SharedMac());
    }

    [Fact]
    public void A_new_vhost_nic_records_the_new_socket_path_and_a_tap_none()
    {
        var vhost = Assert.IsType<NicAdded>(Assert.Single(ConfigurationState.Empty.DecideAddNic(Vhost("vm1"), NewPath).Value!));
        Assert.Equal("/run/bf/qemu-vhost-vm1", vhost.Nic.SocketPath);

        var tap = Assert.IsType<NicAdded>(Assert.Single(ConfigurationState.Empty.DecideAddNic(Vhost("t1") with { Type = NicType.Tap }, NewPath).Value!));
        Assert.Null(tap.Nic.SocketPath);
    }

    [Fact]
    public void A_nic_replaced_by_one_of_the_same_type_keeps_its_socket_path()
    {
        var state = Add(ConfigurationState.Empty, Vhost("vm1"));
        var replaced = Add(state, Vhost("vm1", "52:54:00:00:00:09") with { Ips = ["10.0.0.1"] });
        Assert.Equal("/run/bf/qemu-vhost-vm1", replaced.Nics["vm1"].SocketPath);

        // A NIC recorded before paths were kept (null: <socket-dir>/<id>) keeps that path too.
        var legacy = ConfigurationState.Empty.Apply(new NicAdded(Vhost("old")));
        var readded = Assert.IsType<NicAdded>(Assert.Single(legacy.DecideAddNic(Vhost("old") with { Ips = ["10.0.0.2"] }, NewPath).Value!));
        Assert.Null(readded.Nic.SocketPath);

        // A tap becoming a vhost-user NIC is a new socket.
        var tap = Add(ConfigurationState.Empty, Vhost("t1") with { Type = NicType.Tap });
        Assert.Equal("/run/bf/qemu-vhost-t1", Add(tap, Vhost("t1")).Nics["t1"].SocketPath);
    }

    [Fact]
    public void The_default_packet_trace_path_is_stored_as_not_set()
    {
        Assert.Equal("/tmp/butterfly-vm1.pcap", NicValidation.DefaultPacketTracePath("vm1"));
        var nic = Add(ConfigurationState.Empty, Vhost("vm1") with { PacketTracePath = "/tmp/butterfly-vm1.pcap" }).Nics["vm1"];
        Assert.Null(nic.PacketTracePath);
        var other = Add(ConfigurationState.Empty, Vhost("vm1") with { PacketTracePath = "/var/tmp/x.pcap" });
        Assert.Equal("/var/tmp/x.pcap", other.Nics["vm1"].PacketTracePath);
        Assert.Equal(
            new NicPacketTraceChanged("vm1", false, null),
            Assert.Single(other.DecideUpdateNic(new NicUpdate("vm1", PacketTracePath: "/tmp/butterfly-vm1.pcap")).Value!));
    }

    [Fact]
    public void Two_traced_nics_cannot_capture_to_one_file()
    {
        var state = Add(ConfigurationState.Empty, Vhost("vm1") with { PacketTrace = true, PacketTracePath = "/var/tmp/x.pcap" });

        var refused = state.DecideAddNic(Vhost("vm2", "52:54:00:00:00:02") with { PacketTrace = true, PacketTracePath = "/var/tmp/x.pcap" }, NewPath);
        Assert.Equal(
            "NIC 'vm2': packet_trace_path /var/tmp/x.pcap is already the capture of NIC 'vm1': two NICs cannot write one capture file "
            + "(each would rotate the other's away); give NIC 'vm2' another packet_trace_path, or turn NIC 'vm1''s packet_trace off first",
            refused.Error);
        // The same path on a NIC that is not traced is only a setting; turning it on is then refused.
        var quiet = Add(state, Vhost("vm2", "52:54:00:00:00:02") with { PacketTracePath = "/var/tmp/x.pcap" });
        Assert.False(quiet.DecideUpdateNic(new NicUpdate("vm2", PacketTrace: true)).IsValid);
        // vm1's own default path is vm1's alone: vm3 asking for it while vm3 is traced is refused too.
        var byDefault = Add(ConfigurationState.Empty, Vhost("vm1") with { PacketTrace = true });
        Assert.False(byDefault.DecideAddNic(Vhost("vm3", "52:54:00:00:00:03") with { PacketTrace = true, PacketTracePath = "/tmp/butterfly-vm1.pcap" }, NewPath).IsValid);
        // Once vm1 stops tracing, the file is free; the NIC itself may be replaced with its own path.
        Assert.True(state.DecideAddNic(Vhost("vm1") with { PacketTrace = true, PacketTracePath = "/var/tmp/x.pcap", Ips = ["10.0.0.1"] }, NewPath).IsValid);
        var stopped = state.ApplyAll(state.DecideUpdateNic(new NicUpdate("vm1", PacketTrace: false)).Value!);
        Assert.True(stopped.DecideAddNic(Vhost("vm2", "52:54:00:00:00:02") with { PacketTrace = true, PacketTracePath = "/var/tmp/x.pcap" }, NewPath).IsValid);
    }

    [Theory]
    [InlineData("x.pcap")]
    [InlineData("captures/x.pcap")]
    [InlineData("./x.pcap")]
    public void A_relative_packet_trace_path_is_refused_on_add_and_on_update(string path)
    {
        var refused = ConfigurationState.Empty.DecideAddNic(Vhost("vm1") with { PacketTrace = true, PacketTracePath = path }, NewPath);
        Assert.StartsWith($"NIC 'vm1': packet_trace_path '{path}' is not an absolute path", refused.Error, StringComparison.Ordinal);

        var state = Add(ConfigurationState.Empty, Vhost("vm1"));
        Assert.False(state.DecideUpdateNic(new NicUpdate("vm1", PacketTrace: true, PacketTracePath: path)).IsValid);
        Assert.True(state.DecideUpdateNic(new NicUpdate("vm1", PacketTrace: true, PacketTracePath: "/var/tmp/" + path)).IsValid);
    }
}
