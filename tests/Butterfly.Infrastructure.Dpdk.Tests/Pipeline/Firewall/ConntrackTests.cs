using Butterfly.Domain.Events;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall.Packets;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>Connection tracking per NIC zone: TCP states and windows, UDP, ICMP echo and errors, timeouts, capacity.</summary>
public sealed class ConntrackTests : IDisposable
{
    private readonly FirewallWorld _w = new();

    public ConntrackTests()
    {
        // b admits TCP 80 and UDP 53 from anywhere; a admits nothing (default deny).
        _w.Apply(new SecurityGroupDefined("web", [], [FirewallWorld.In(6, "0.0.0.0/0", 80, 80), FirewallWorld.In(17, "0.0.0.0/0", 53, 53)]));
        _w.Groups("b", "web");
    }

    public void Dispose() => _w.Dispose();

    [Fact]
    public void A_tcp_handshake_data_and_close_pass_both_ways_and_the_states_set_the_lifetime()
    {
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Syn, seq: 100, windowScale: 7)));
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Syn | Ack, seq: 5000, ack: 101, windowScale: 7)));
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 101, ack: 5001, window: 512)));
        Assert.Equal(TimeoutOf("a", 40000), _w.Stage.Timeouts.TcpEstablished);

        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 101, ack: 5001, window: 512, payload: 1000)));
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Ack, seq: 5001, ack: 1101, window: 512, payload: 1400)));

        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Fin | Ack, seq: 1101, ack: 6401, window: 512)));
        Assert.Equal(_w.Stage.Timeouts.TcpClosing, TimeoutOf("a", 40000));
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Fin | Ack, seq: 6401, ack: 1102, window: 512)));
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 1102, ack: 6402, window: 512)));
        Assert.Equal(_w.Stage.Timeouts.TcpClosed, TimeoutOf("a", 40000));
    }

    [Fact]
    public void Replies_pass_but_the_reverse_direction_does_not_open_a_flow()
    {
        // a (no inbound rule) opens to b: b's answers come back to a; b cannot open to a.
        Assert.Equal(DropReason.None, _w.AtoB(Udp("10.0.0.1", 5555, "10.0.0.2", 53)));
        Assert.Equal(DropReason.None, _w.BtoA(Udp("10.0.0.2", 53, "10.0.0.1", 5555)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.BtoA(Udp("10.0.0.2", 53, "10.0.0.1", 5556)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.BtoA(Tcp("10.0.0.2", 1234, "10.0.0.1", 80, Syn)));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.AtoB(Tcp("10.0.0.1", 1234, "10.0.0.2", 81, Syn)));
    }

    [Fact]
    public void Segments_far_outside_the_window_and_blind_resets_are_invalid()
    {
        Handshake();
        // Data a window (512 << 7 = 64 KiB) and more past what b allowed. (Segments without data
        // are eased, as in pf: a bare ACK out of window passes.)
        Assert.Equal(DropReason.ConntrackInvalid, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 101 + 200_000, ack: 5001, window: 512, payload: 100)));
        Assert.Equal(DropReason.ConntrackInvalid, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Rst, seq: 5001 + 70_000)));
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 101, ack: 5001, window: 512, payload: 100)));
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Rst, seq: 5001)));
        Assert.Equal(_w.Stage.Timeouts.TcpClosed, TimeoutOf("a", 40000));
    }

    [Fact]
    public void Impossible_flags_and_a_syn_ack_without_a_syn_are_invalid()
    {
        Assert.Equal(DropReason.ConntrackInvalid, _w.AtoB(Tcp("10.0.0.1", 40001, "10.0.0.2", 80, Syn | Fin)));
        Assert.Equal(DropReason.ConntrackInvalid, _w.AtoB(Tcp("10.0.0.1", 40001, "10.0.0.2", 80, Syn | Ack)));
        Assert.Equal(DropReason.ConntrackInvalid, _w.AtoB(Tcp("10.0.0.1", 40001, "10.0.0.2", 80, 0)));
        Assert.Equal(0, _w.Stage.Count);
    }

    [Fact]
    public void A_connection_is_picked_up_mid_stream_when_the_rules_admit_it()
    {
        // What a restarted daemon sees: no SYN, but the port is open.
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 9_000_000, ack: 77, payload: 100)));
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Ack, seq: 77, ack: 9_000_100, payload: 1000)));
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 9_000_100, ack: 1077)));
        // Not toward a closed port.
        Assert.Equal(DropReason.FirewallInboundDenied, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 22, Ack, seq: 1, ack: 1)));
    }

    [Fact]
    public void A_syn_reopens_a_closed_connection()
    {
        Handshake();
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Rst, seq: 5001)));
        // Both sides are past FIN_WAIT_2 after a reset: the same ports may start again.
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Syn, seq: 700_000)));
        Assert.Equal(_w.Stage.Timeouts.TcpOpening, TimeoutOf("a", 40000));
    }

    [Fact]
    public void An_idle_connection_expires_and_its_next_packet_is_a_new_flow()
    {
        Assert.Equal(DropReason.None, _w.AtoB(Udp("10.0.0.1", 5555, "10.0.0.2", 53)));
        _w.Now += _w.Stage.Timeouts.Udp - 1;
        Assert.Equal(DropReason.None, _w.BtoA(Udp("10.0.0.2", 53, "10.0.0.1", 5555)));
        // The reply made it a stream: 180 s now.
        _w.Now += _w.Stage.Timeouts.UdpStream + 1;
        Assert.Equal(DropReason.FirewallInboundDenied, _w.BtoA(Udp("10.0.0.2", 53, "10.0.0.1", 5555)));
    }

    [Fact]
    public void Udp_seen_one_way_lives_30_seconds_and_180_once_a_stream()
    {
        _w.AtoB(Udp("10.0.0.1", 5555, "10.0.0.2", 53));
        Assert.Equal(_w.Stage.Timeouts.Udp, TimeoutOf("a", 5555, protocol: 17));
        _w.BtoA(Udp("10.0.0.2", 53, "10.0.0.1", 5555));
        Assert.Equal(_w.Stage.Timeouts.UdpStream, TimeoutOf("a", 5555, protocol: 17));
        Assert.Equal(30 * FirewallWorld.Second, _w.Stage.Timeouts.Udp);
        Assert.Equal(180 * FirewallWorld.Second, _w.Stage.Timeouts.UdpStream);
        Assert.Equal(432_000 * FirewallWorld.Second, _w.Stage.Timeouts.TcpEstablished);
    }

    [Fact]
    public void An_echo_is_answered_but_an_echo_toward_a_nic_without_a_rule_is_not()
    {
        // b has no ICMP rule yet: its ingress refuses the request.
        Assert.Equal(DropReason.FirewallInboundDenied, _w.AtoB(Icmp("10.0.0.1", "10.0.0.2", IcmpHeader.V4EchoRequest, id: 9)));
        _w.Apply(new RuleAdded("web", FirewallWorld.In(1, "10.0.0.0/8")));
        Assert.Equal(DropReason.None, _w.AtoB(Icmp("10.0.0.1", "10.0.0.2", IcmpHeader.V4EchoRequest, id: 11)));
        Assert.Equal(DropReason.None, _w.BtoA(Icmp("10.0.0.2", "10.0.0.1", IcmpHeader.V4EchoReply, id: 11)));
        // A reply nobody asked for, toward a (no rule): refused.
        Assert.Equal(DropReason.FirewallInboundDenied, _w.BtoA(Icmp("10.0.0.2", "10.0.0.1", IcmpHeader.V4EchoReply, id: 12)));
        // b pinging a: a has no rule.
        Assert.Equal(DropReason.FirewallInboundDenied, _w.BtoA(Icmp("10.0.0.2", "10.0.0.1", IcmpHeader.V4EchoRequest, id: 13)));
        // ICMPv6 too.
        _w.Apply(new RuleAdded("web", FirewallWorld.In(58, "::/0", icmpType: 128)));
        Assert.Equal(DropReason.None, _w.AtoB(Icmp("fd00::1", "fd00::2", IcmpHeader.V6EchoRequest, id: 14)));
        Assert.Equal(DropReason.None, _w.BtoA(Icmp("fd00::2", "fd00::1", IcmpHeader.V6EchoReply, id: 14)));
        // A reply to a request b never made is no reply at all: b's rules (type 128 only) decide.
        Assert.Equal(DropReason.FirewallInboundDenied, _w.AtoB(Icmp("fd00::1", "fd00::2", IcmpHeader.V6EchoReply, id: 14)));
    }

    [Fact]
    public void Two_hosts_pinging_each_other_with_the_same_identifier_are_two_flows()
    {
        // Identical guests give their first ping the same process id, hence the same identifier.
        _w.Apply(new SecurityGroupDefined("icmp", [], [FirewallWorld.In(1, "10.0.0.0/8")]));
        _w.Groups("a", "icmp");
        _w.Groups("b", "web", "icmp");
        Assert.Equal(DropReason.None, _w.AtoB(Icmp("10.0.0.1", "10.0.0.2", IcmpHeader.V4EchoRequest, id: 42)));
        Assert.Equal(DropReason.None, _w.BtoA(Icmp("10.0.0.2", "10.0.0.1", IcmpHeader.V4EchoReply, id: 42)));
        Assert.Equal(DropReason.None, _w.BtoA(Icmp("10.0.0.2", "10.0.0.1", IcmpHeader.V4EchoRequest, id: 42)));
        Assert.Equal(DropReason.None, _w.AtoB(Icmp("10.0.0.1", "10.0.0.2", IcmpHeader.V4EchoReply, id: 42)));
        // Two echo flows, each tracked in both NICs' zones.
        Assert.Equal(4, _w.Stage.Count);
    }

    [Fact]
    public void Icmp_errors_about_a_tracked_flow_get_back_and_others_do_not()
    {
        var query = Udp("10.0.0.1", 5555, "10.0.0.2", 53);
        Assert.Equal(DropReason.None, _w.AtoB(query));
        // b's host says port unreachable / a router says fragmentation needed: related to a's flow.
        Assert.Equal(DropReason.None, _w.BtoA(IcmpError("10.0.0.2", "10.0.0.1", 3, 3, query)));
        Assert.Equal(DropReason.None, _w.Receive("a", IcmpError("192.0.2.1", "10.0.0.1", 3, 4, query)));
        // About a flow a never opened: refused.
        var other = Udp("10.0.0.1", 5556, "10.0.0.2", 53);
        Assert.Equal(DropReason.FirewallInboundDenied, _w.Receive("a", IcmpError("192.0.2.1", "10.0.0.1", 3, 4, other)));
        // IPv6 packet too big for a TCP flow.
        var syn = Tcp("fd00::1", 40000, "fd00::2", 80, Syn);
        _w.Apply(new RuleAdded("web", FirewallWorld.In(6, "::/0", 80, 80)));
        Assert.Equal(DropReason.None, _w.AtoB(syn));
        Assert.Equal(DropReason.None, _w.Receive("a", IcmpError("fd00::99", "fd00::1", 2, 0, syn)));
    }

    [Fact]
    public void The_table_is_bounded_and_a_new_flow_beyond_it_is_a_counted_drop()
    {
        using var small = new FirewallWorld(capacity: 2);
        small.Apply(new SecurityGroupDefined("all", [], [FirewallWorld.In(-1, "0.0.0.0/0")]));
        small.Groups("b", "all");
        // Each a->b flow takes two entries: a's zone and b's.
        Assert.Equal(DropReason.None, small.AtoB(Udp("10.0.0.1", 1, "10.0.0.2", 53)));
        Assert.Equal(DropReason.ConntrackFull, small.AtoB(Udp("10.0.0.1", 2, "10.0.0.2", 53)));
        Assert.Equal(2, small.Stage.Count);
        // Established flows still pass.
        Assert.Equal(DropReason.None, small.BtoA(Udp("10.0.0.2", 53, "10.0.0.1", 1)));
    }

    [Fact]
    public void The_sweeper_frees_expired_connections_and_those_of_nics_that_are_gone()
    {
        _w.AtoB(Udp("10.0.0.1", 5555, "10.0.0.2", 53));
        Handshake();
        Assert.Equal(4, _w.Stage.Count);
        _w.Now += _w.Stage.Timeouts.Udp + 1;
        _w.Stage.Sweep(_w.Policy, _w.Now, 1000);
        Assert.Equal(2, _w.Stage.Count);
        _w.Apply(new NicRemoved("b"));
        _w.Stage.Sweep(_w.Policy, _w.Now, 1000);
        Assert.Equal(1, _w.Stage.Count);
        Assert.Equal(3UL, _w.Stage.Expired);
    }

    [Fact]
    public void Later_fragments_pass_only_after_their_first_fragment()
    {
        var first = Fragment(Udp("10.0.0.1", 5555, "10.0.0.2", 53, payload: 100), 0, more: true, id: 77);
        var later = Fragment(Udp("10.0.0.1", 5555, "10.0.0.2", 53, payload: 100), 14, more: false, id: 77);
        var stray = Fragment(Udp("10.0.0.1", 5555, "10.0.0.2", 53, payload: 100), 14, more: false, id: 78);
        Assert.Equal(DropReason.None, _w.AtoB(first));
        Assert.Equal(DropReason.None, _w.AtoB(later));
        Assert.Equal(DropReason.FirewallFragmentUnknown, _w.AtoB(stray));
        _w.Now += _w.Stage.Timeouts.Fragments + 1;
        Assert.Equal(DropReason.FirewallFragmentUnknown, _w.AtoB(later));
    }

    [Fact]
    public void Other_protocols_are_tracked_by_addresses_and_protocol()
    {
        _w.Apply(new RuleAdded("web", FirewallWorld.In(47, "10.0.0.0/24")));
        Assert.Equal(DropReason.None, _w.AtoB(Ip("10.0.0.1", "10.0.0.2", 47, new byte[8])));
        Assert.Equal(DropReason.None, _w.BtoA(Ip("10.0.0.2", "10.0.0.1", 47, new byte[8])));
        Assert.Equal(DropReason.FirewallInboundDenied, _w.BtoA(Ip("10.0.0.2", "10.0.0.1", 50, new byte[8])));
        Assert.Equal(_w.Stage.Timeouts.Other, TimeoutOf("a", 0, protocol: 47));
    }

    [Fact]
    public void The_burst_wise_egress_steps_decide_as_one_call_does()
    {
        using var twin = new FirewallWorld();
        twin.Apply(new SecurityGroupDefined("web", [], [FirewallWorld.In(6, "0.0.0.0/0", 80, 80), FirewallWorld.In(17, "0.0.0.0/0", 53, 53)]));
        twin.Groups("b", "web");
        byte[][] burst =
        [
            Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Syn, seq: 100),
            Udp("10.0.0.1", 5555, "10.0.0.2", 53),
            Udp("10.0.0.9", 5555, "10.0.0.2", 53),
            Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Syn | Fin),
            Icmp("10.0.0.1", "10.0.0.2", IcmpHeader.V4EchoRequest),
            Arp(MacA, MacA, "10.0.0.1", "10.0.0.2"),
            Udp("10.0.0.1", 5555, "10.0.0.2", 53, srcMac: MacB),
        ];
        var a = _w.Nic("a");
        var lookups = new FlowLookup[burst.Length];
        var started = new DropReason[burst.Length];
        for (var i = 0; i < burst.Length; i++)
        {
            started[i] = _w.Stage.StartFromNic(a, burst[i], Parse(burst[i]), out lookups[i]);
        }
        for (var i = 0; i < burst.Length; i++)
        {
            _w.Stage.PrefetchConnection(lookups[i]);
        }
        for (var i = 0; i < burst.Length; i++)
        {
            var stepwise = started[i] != DropReason.None ? started[i]
                : _w.Stage.FinishFromNic(a, _w.Policy, burst[i], Parse(burst[i]), lookups[i], _w.Now);
            Assert.Equal(twin.Send("a", burst[i]), stepwise);
        }
        Assert.Equal(twin.Stage.Count, _w.Stage.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_burst_wise_ingress_steps_decide_as_one_call_does(bool senderBypasses)
    {
        // b admits TCP 80 and UDP 53 only; a (whose egress is open) sends, b answers: the second
        // burst meets the connections the first one opened, both ways.
        using var twin = new FirewallWorld();
        foreach (var world in new[] { _w, twin })
        {
            world.Apply(new SecurityGroupDefined("web", [], [FirewallWorld.In(6, "0.0.0.0/0", 80, 80), FirewallWorld.In(17, "0.0.0.0/0", 53, 53)]));
            world.Groups("b", "web");
        }
        byte[][] toB =
        [
            Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Syn, seq: 100),
            Udp("10.0.0.1", 5555, "10.0.0.2", 53),
            Udp("10.0.0.1", 5555, "10.0.0.2", 54),
            Tcp("10.0.0.1", 40001, "10.0.0.2", 22, Syn, seq: 7),
            Icmp("10.0.0.1", "10.0.0.2", IcmpHeader.V4EchoRequest),
            Arp(MacA, MacA, "10.0.0.1", "10.0.0.2"),
        ];
        byte[][] toA =
        [
            Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Syn | Ack, seq: 5000, ack: 101),
            Udp("10.0.0.2", 53, "10.0.0.1", 5555, srcMac: MacB),
        ];
        foreach (var frame in toA)
        {
            _w.Nic("b").Mac.Write(frame.AsSpan(EthernetHeader.SourceOffset));
        }
        foreach (var (from, to, burst) in new[] { ("a", "b", toB), ("b", "a", toA), ("a", "b", toB) })
        {
            var sender = _w.Nic(from);
            var receiver = _w.Nic(to);
            var lookups = new FlowLookup[burst.Length];
            var hashes = new uint[burst.Length];
            var started = new DropReason[burst.Length];
            for (var i = 0; i < burst.Length; i++)
            {
                var meta = Parse(burst[i]);
                if (senderBypasses)
                {
                    // No egress lookup: the ingress one is made in the receiver's zone.
                    _w.Stage.StartToNic(receiver, burst[i], meta, out lookups[i]);
                    hashes[i] = lookups[i].Hash;
                    continue;
                }
                started[i] = _w.Stage.StartFromNic(sender, burst[i], meta, out lookups[i]);
                if (started[i] == DropReason.None)
                {
                    hashes[i] = _w.Stage.StartToNic(receiver, lookups[i]);
                }
            }
            for (var i = 0; i < burst.Length; i++)
            {
                if (started[i] == DropReason.None)
                {
                    _w.Stage.PrefetchConnection(lookups[i]);
                    _w.Stage.PrefetchConnection(lookups[i], hashes[i]);
                }
            }
            for (var i = 0; i < burst.Length; i++)
            {
                var meta = Parse(burst[i]);
                var egress = senderBypasses || started[i] != DropReason.None ? started[i]
                    : _w.Stage.FinishFromNic(sender, _w.Policy, burst[i], meta, lookups[i], _w.Now);
                var stepwise = egress != DropReason.None ? egress : _w.Stage.FinishToNic(receiver, _w.Policy, burst[i], meta, lookups[i], hashes[i], _w.Now);
                var twinEgress = senderBypasses ? DropReason.None : twin.Send(from, burst[i]);
                var oneCall = twinEgress != DropReason.None ? twinEgress : twin.Receive(to, burst[i]);
                Assert.Equal(oneCall, stepwise);
            }
        }
        // The same connections, in the same zones.
        Assert.Equal(twin.Stage.Count, _w.Stage.Count);
        Assert.True(_w.Stage.Count > 0);
        for (var i = 0; i < _w.Stage.Table.HighWater; i++)
        {
            if (_w.Stage.Table.InUse(i))
            {
                var key = _w.Stage.Table[i].Key;
                Assert.True(twin.Stage.Table.Find(key, FlowKey.HashOf(key)) >= 0, $"connection {i} (zone {key.Zone}) not in the twin");
            }
        }
    }

    private void Handshake()
    {
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Syn, seq: 100, windowScale: 7)));
        Assert.Equal(DropReason.None, _w.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Syn | Ack, seq: 5000, ack: 101, windowScale: 7)));
        Assert.Equal(DropReason.None, _w.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 101, ack: 5001, window: 512)));
    }

    /// <summary>The lifetime the connection of NIC <paramref name="nic"/> from its port <paramref name="port"/> got at its last packet.</summary>
    private long TimeoutOf(string nic, ushort port, byte protocol = 6)
    {
        var table = _w.Stage.Table;
        var zone = _w.Nic(nic).Zone;
        for (var i = 0; i < table.HighWater; i++)
        {
            if (table.InUse(i) && table[i].Key.Zone == zone && table[i].Key.Protocol == protocol && table[i].Key.Kind == FlowKind.Connection
                && (table[i].Key.APort == port || table[i].Key.BPort == port))
            {
                return table[i].Expires - _w.Now;
            }
        }
        throw new InvalidOperationException("no such connection");
    }
}
