using Butterfly.Api.Zmq.Server;
using Butterfly.Application;
using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;
using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Server;

public class ProtoMapperTests
{
    private static readonly RequestOrigin Origin = new("test", "m1");

    [Fact]
    public void A_minimal_nic_takes_the_wire_defaults_and_the_daemons_packet_trace()
    {
        var wire = Requests.Nic("n1", "52:54:00:00:d7:11", 42);

        var off = ProtoMapper.ToNicSpec(wire, defaultPacketTrace: false);
        var on = ProtoMapper.ToNicSpec(wire, defaultPacketTrace: true);

        Assert.Equal(new NicSpec("n1", "52:54:00:00:d7:11", 42, [], []), off with { Ips = [], SecurityGroups = [] });
        Assert.Empty(off.Ips);
        Assert.Empty(off.SecurityGroups);
        Assert.Equal(NicType.VhostUserServer, off.Type);
        Assert.False(off.PacketTrace);
        Assert.True(on.PacketTrace);
        Assert.Null(off.SniffTargetNicId);
        Assert.Null(off.BenchType);
    }

    [Fact]
    public void Every_nic_field_is_mapped_both_ways()
    {
        var wire = new V0.Nic
        {
            Id = "n1",
            Mac = "52:54:00:00:d7:11",
            Vni = 7,
            Ip = { "10.0.0.1", "2001:db8::1" },
            SecurityGroup = { "sg1", "sg2" },
            IpAntiSpoof = true,
            SniffTargetNicId = "n0",
            BypassFiltering = true,
            Type = V0.Nic.Types.Type.Bench,
            PacketTrace = false,
            PacketTracePath = "/tmp/n1.pcap",
            Btype = "ICMP_SND_LIKE",
            Dip = "10.0.0.2",
            Dmac = "52:54:00:00:00:02",
        };

        var spec = ProtoMapper.ToNicSpec(wire, defaultPacketTrace: true);
        var back = ProtoMapper.ToWire(spec, path: "/sockets/n1");

        Assert.Equal(["10.0.0.1", "2001:db8::1"], spec.Ips);
        Assert.Equal(["sg1", "sg2"], spec.SecurityGroups);
        Assert.Equal(NicType.Bench, spec.Type);
        Assert.False(spec.PacketTrace); // explicit false wins over the daemon default
        wire.Path = "/sockets/n1";
        Assert.Equal(wire, back);
    }

    [Theory]
    [InlineData(V0.Nic.Types.Type.Tap, NicType.Tap)]
    [InlineData(V0.Nic.Types.Type.Bench, NicType.Bench)]
    [InlineData(V0.Nic.Types.Type.VhostUserServer, NicType.VhostUserServer)]
    public void Nic_types_keep_their_wire_numbers(V0.Nic.Types.Type wire, NicType domain)
    {
        var spec = ProtoMapper.ToNicSpec(Requests.Nic("n", type: wire), false);

        Assert.Equal(domain, spec.Type);
        Assert.Equal(wire, ProtoMapper.ToWire(spec, null).Type);
        Assert.True(ProtoMapper.ToWire(spec, null).HasType); // dump must keep TAP types
    }

    [Fact]
    public void Nic_update_lists_absent_mean_unchanged_a_single_empty_string_clears()
    {
        var unchanged = ProtoMapper.ToUpdateNic(new V0.NicUpdateReq { Id = "n" }, Origin);
        var cleared = ProtoMapper.ToUpdateNic(new V0.NicUpdateReq { Id = "n", Ip = { "" }, SecurityGroup = { "" } }, Origin);
        var replaced = ProtoMapper.ToUpdateNic(new V0.NicUpdateReq { Id = "n", Ip = { "10.0.0.1", "" }, SecurityGroup = { "a" } }, Origin);

        Assert.Equal(new UpdateNic("n", null, null, null, null, null, Origin), unchanged);
        Assert.NotNull(cleared.Ips);
        Assert.Empty(cleared.Ips);
        Assert.NotNull(cleared.SecurityGroups);
        Assert.Empty(cleared.SecurityGroups);
        Assert.Equal(["10.0.0.1"], replaced.Ips);
        Assert.Equal(["a"], replaced.SecurityGroups);
    }

    [Fact]
    public void Nic_update_optional_flags_are_mapped_only_when_present()
    {
        var update = ProtoMapper.ToUpdateNic(new V0.NicUpdateReq { Id = "n", IpAntiSpoof = false, PacketTrace = true, PacketTracePath = "/p" }, Origin);

        Assert.False(update.IpAntiSpoof);
        Assert.True(update.PacketTrace);
        Assert.Equal("/p", update.PacketTracePath);
        Assert.Same(Origin, update.Origin);
    }

    [Fact]
    public void Rules_map_ports_cidr_and_group_both_ways()
    {
        var tcp = Requests.Rule(V0.Rule.Types.Direction.Inbound, 6, "10.0.0.0/24", 22, 80);
        var all = Requests.RuleFromGroup(V0.Rule.Types.Direction.Outbound, -1, "sg2");

        var tcpSpec = ProtoMapper.ToRule(tcp);
        var allSpec = ProtoMapper.ToRule(all);

        Assert.Equal(new RuleSpec(Direction.Inbound, 6, 22, 80, new CidrSpec("10.0.0.0", 24), null), tcpSpec);
        Assert.Equal(new RuleSpec(Direction.Outbound, -1, null, null, null, "sg2"), allSpec);
        Assert.Equal(tcp, ProtoMapper.ToWire(tcpSpec));
        Assert.Equal(all, ProtoMapper.ToWire(allSpec));
        Assert.False(ProtoMapper.ToWire(allSpec).HasPortStart);
    }

    [Fact]
    public void Security_groups_keep_member_and_rule_order()
    {
        var request = Requests.SgAdd("sg1", ["10.0.0.2", "10.0.0.1"], [Requests.Rule(V0.Rule.Types.Direction.Inbound, 1, "0.0.0.0/0"), Requests.RuleFromGroup(V0.Rule.Types.Direction.Inbound, 17, "sg1", 53, 53)]);

        var group = ProtoMapper.ToGroup(request.SgAdd);

        Assert.Equal(["10.0.0.2", "10.0.0.1"], group.Members);
        Assert.Equal([1, 17], group.Rules.Select(r => r.Protocol));
        Assert.Equal(request.SgAdd, ProtoMapper.ToWire(group));
    }

    [Fact]
    public void Event_filters_map_ids_times_sequences_and_limits()
    {
        var filter = ProtoMapper.ToEventFilter(new V0.EventListReq { NicId = "n1", SinceUnixMs = 1000, UntilUnixMs = 2000, AfterSequence = 5, UntilSequence = 9, Limit = 50 });
        var byGroup = ProtoMapper.ToEventFilter(new V0.EventListReq { SgId = "sg" });
        var all = ProtoMapper.ToEventFilter(new V0.EventListReq());

        Assert.Equal(
            new EventFilter("nic", "n1", DateTimeOffset.FromUnixTimeMilliseconds(1000), DateTimeOffset.FromUnixTimeMilliseconds(2000), 5, 9, 50),
            filter.Value);
        Assert.Equal(new EventFilter("sg", "sg"), byGroup.Value);
        Assert.Equal(new EventFilter(Limit: ProtoMapper.DefaultEventLimit), all.Value);
    }

    [Theory]
    [InlineData("n", "s", 0u, 0ul, "set nic_id or sg_id, not both")]
    [InlineData(null, null, 10001u, 0ul, "event_list.limit 10001 is above the maximum of 10000")]
    [InlineData(null, null, 0u, ulong.MaxValue, "event_list.since_unix_ms 18446744073709551615 is not a time")]
    public void Bad_event_filters_are_explained(string? nic, string? sg, uint limit, ulong since, string expected)
    {
        var request = new V0.EventListReq();
        if (nic is not null)
        {
            request.NicId = nic;
        }

        if (sg is not null)
        {
            request.SgId = sg;
        }

        if (limit > 0)
        {
            request.Limit = limit;
        }

        if (since > 0)
        {
            request.SinceUnixMs = since;
        }

        Assert.Contains(expected, ProtoMapper.ToEventFilter(request).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Points_in_time_need_exactly_one_of_sequence_and_time()
    {
        Assert.Equal(new PointInTime(12, null), ProtoMapper.ToPointInTime(new V0.PointInTime { Sequence = 12 }, "state_at").Value);
        Assert.Equal(new PointInTime(null, DateTimeOffset.FromUnixTimeMilliseconds(5)), ProtoMapper.ToPointInTime(new V0.PointInTime { UnixMs = 5 }, "state_at").Value);
        Assert.Equal("state_at: set exactly one of sequence and unix_ms", ProtoMapper.ToPointInTime(new V0.PointInTime(), "state_at").Error);
        Assert.Equal("restore_to: set exactly one of sequence and unix_ms", ProtoMapper.ToPointInTime(new V0.PointInTime { Sequence = 1, UnixMs = 1 }, "restore_to").Error);
    }

    [Fact]
    public void Capture_and_bench_figures_map_to_nic_stats_revision_11()
    {
        var traced = ProtoMapper.ToWire(new NicCounters(1, 2, 3, 4, 5,
            Trace: new TraceCounters("/tmp/x.pcap", 10, 2000, 3, 1, "disk full"),
            Bench: new BenchCounters("ICMP_SND_LIKE", 7, 6, 80.5, 120.25, 300, 290)));
        var quiet = ProtoMapper.ToWire(new NicCounters(1, 2, 3, 4, 5, Bench: new BenchCounters("ICMP_RCV_LIKE", 4, 4, null, null, null, null)));

        Assert.Equal(("/tmp/x.pcap", 10ul, 2000ul, 3ul, 1u, "disk full"),
            (traced.Trace.Path, traced.Trace.Frames, traced.Trace.Bytes, traced.Trace.Dropped, traced.Trace.Rotations, traced.Trace.Error));
        Assert.Equal(("ICMP_SND_LIKE", 7ul, 6ul, 80.5, 120.25, 300.0, 290.0),
            (traced.Bench.Btype, traced.Bench.Sent, traced.Bench.Received, traced.Bench.RttMinUs, traced.Bench.RttMeanUs, traced.Bench.RttMaxUs, traced.Bench.RttP99Us));
        Assert.Null(quiet.Trace);
        Assert.Equal((4ul, 4ul), (quiet.Bench.Sent, quiet.Bench.Received));
        Assert.False(quiet.Bench.HasRttMinUs || quiet.Bench.HasRttMeanUs || quiet.Bench.HasRttMaxUs || quiet.Bench.HasRttP99Us);
        Assert.Null(ProtoMapper.ToWire(new NicCounters(1, 2, 3, 4, 5)).Bench);
    }

    [Fact]
    public void Results_map_to_their_wire_messages()
    {
        var time = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);
        var status = ProtoMapper.ToWire(new AppStatus(time, time.AddSeconds(10), 42, "digraph {}"));
        var stats = ProtoMapper.ToWire(new NicCounters(1, 2, 3, 4, 5));
        var stored = new StoredEvent(3, time, "NicAdded", "nic", "n1", "{}", "cli", null);
        var page = ProtoMapper.ToWire(new EventPage([stored], 3, 9));
        var restore = ProtoMapper.ToWire(new RestoreSummary(4, 2, 11));
        var state = ProtoMapper.ToWire(
            new ConfigurationView(3, time, [new NicSpec("n1", "52:54:00:00:00:01", 1, [], [])], [new SecurityGroupSpec("sg", [], [])]),
            n => "/s/" + n.Id);

        Assert.Equal(1_700_000_000ul, status.StartDate);
        Assert.Equal(1_700_000_010ul, status.CurrentDate);
        Assert.Equal(42ul, status.RequestCounter);
        Assert.Equal("digraph {}", status.GraphDot);
        Assert.Equal((1ul, 2ul), (stats.In, stats.Out));
        var e = Assert.Single(page.Event);
        Assert.Equal((3ul, 1_700_000_000_123ul, "NicAdded", "nic", "n1", "{}", "cli"), (e.Sequence, e.UnixMs, e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin));
        Assert.False(e.HasMessageId);
        Assert.Equal((3ul, 9ul), (page.NextAfterSequence, page.LastSequence));
        Assert.Equal((4ul, 2u, 11ul), (restore.TargetSequence, restore.EventsAppended, restore.LastSequence));
        Assert.Equal("/s/n1", Assert.Single(state.Nic).Path);
        Assert.Equal("sg", Assert.Single(state.Sg).Id);
        Assert.Equal(1_700_000_000_123ul, state.UnixMs);
    }

    [Fact]
    public void Packet_thread_stats_map_every_counter_and_drop_reason()
    {
        var wire = ProtoMapper.ToWire(new PacketThreadStats(2, -1, 100, 4, 96, 5, 9_600, 190_400, 2_100_000_000,
            [new DropCount("ethernet_source_multicast", 3), new DropCount("tx_full", 1)], PollGaps: [7, 0, 2]));

        Assert.Equal((2, -1), (wire.Lcore, wire.Cpu));
        Assert.Equal([7UL, 0UL, 2UL], wire.PollGaps);
        Assert.Equal((100ul, 4ul, 96ul, 5ul), (wire.Rounds, wire.BusyRounds, wire.Packets, wire.Bursts));
        Assert.Equal((9_600ul, 190_400ul, 2_100_000_000ul), (wire.BusyCycles, wire.IdleCycles, wire.TscHz));
        Assert.Equal(["ethernet_source_multicast:3", "tx_full:1"], wire.Drop.Select(d => $"{d.Reason}:{d.Frames}"));
    }

    [Fact]
    public void A_last_page_has_no_next_cursor()
    {
        Assert.False(ProtoMapper.ToWire(new EventPage([], null, 0)).HasNextAfterSequence);
    }
}
