using System.Diagnostics;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Frames;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline;

/// <summary>
/// Multicast flooding mode, host side: IGMPv3/MLDv2 reports for the per-VNI groups (golden
/// bytes computed independently in Python: checksums, Router Alert, link-local source), query
/// recognition, and when <see cref="MulticastMembership"/> reports.
/// </summary>
public class MembershipTests
{
    private const string Igmpv3JoinTwoGroups =
        "01005e0000160200000000aa0800460000300000400001024308c0a80101e000001694040000" +
        "220008c60000000204000000e600000a04000000e600012c";

    private const string Mldv2LeaveOneGroup =
        "3333000000160200000000aa86dd6000000000240001fe80000000000000000000fffe0000aaff02000000000000000000000000001" +
        "63a000502000001008f0071590000000103000000ff00000000000000000000000000000a";

    private static readonly long Second = Stopwatch.Frequency;

    [Fact]
    public void An_igmpv3_join_report_matches_its_golden_bytes()
    {
        var buffer = new byte[256];
        var length = MembershipReports.Build(buffer, OurMac, OurV4,
            [IpAddr.Parse("230.0.0.10"), IpAddr.Parse("230.0.1.44")], GroupRecordType.ChangeToExclude);

        Assert.Equal(Igmpv3JoinTwoGroups, ToHex(buffer.AsSpan(0, length)));
        var meta = Parse(buffer.AsSpan(0, length));
        Assert.Equal(L3Kind.Ipv4, meta.L3);
        Assert.Equal(Ipv4Header.ProtocolIgmp, meta.L4Protocol);
    }

    [Fact]
    public void An_mldv2_leave_report_matches_its_golden_bytes()
    {
        var buffer = new byte[256];
        var length = MembershipReports.Build(buffer, OurMac, default, [IpAddr.Parse("ff00::a")], GroupRecordType.ChangeToInclude);

        Assert.Equal(Mldv2LeaveOneGroup, ToHex(buffer.AsSpan(0, length)));
        Assert.Equal(IpAddr.Parse("fe80::ff:fe00:aa"), MembershipReports.LinkLocalOf(OurMac));
    }

    [Fact]
    public void Reports_refuse_small_buffers_mixed_families_and_non_groups()
    {
        var buffer = new byte[256];
        Assert.Equal(0, MembershipReports.Build(buffer.AsSpan(0, 40), OurMac, OurV4, [IpAddr.Parse("230.0.0.1")], GroupRecordType.ModeIsExclude));
        Assert.Equal(0, MembershipReports.Build(buffer, OurMac, OurV4, [IpAddr.Parse("230.0.0.1"), IpAddr.Parse("ff00::1")], GroupRecordType.ModeIsExclude));
        Assert.Equal(0, MembershipReports.Build(buffer, OurMac, OurV4, [IpAddr.Parse("10.0.0.1")], GroupRecordType.ModeIsExclude));
        Assert.Equal(0, MembershipReports.Build(buffer, OurMac, OurV4, [], GroupRecordType.ModeIsExclude));
    }

    [Theory]
    [InlineData(true, 1500)]
    [InlineData(false, 1500)]
    [InlineData(true, 9000)]
    public void The_largest_report_fits_the_mtu(bool v4, int mtu)
    {
        var records = MembershipReports.MaxRecords(v4, mtu);
        Assert.True(MembershipReports.FrameLength(v4, records) - EthernetHeader.Length <= mtu);
        Assert.True(MembershipReports.FrameLength(v4, records + 1) - EthernetHeader.Length > mtu);
    }

    [Fact]
    public void Igmp_and_mld_queries_are_recognised_and_reports_are_not()
    {
        // IGMPv2 general query from 192.168.1.254 to 224.0.0.1 (Router Alert, max resp 10 s).
        var igmpQuery = FixIpv4Checksum(Hex(
            "01005e000001" + "0200000000bb" + "0800" + "46000020" + "00000000" + "01020000" + "c0a801fe" + "e0000001" + "94040000" +
            "1164ee9b" + "00000000"));
        var query = Parse(igmpQuery);
        Assert.True(MembershipReports.IsQuery(igmpQuery, query));
        Assert.Equal(UnderlayAction.MembershipQuery, Process(igmpQuery).Action);

        // MLDv2 general query from fe80::bb to ff02::1 behind a hop-by-hop Router Alert.
        var mldQuery = Hex(
            "333300000001" + "0200000000bb" + "86dd" + "60000000" + "0024" + "00" + "01" + "fe8000000000000000000000000000bb" + "ff020000000000000000000000000001" +
            "3a00050200000100" + "82000000" + "27100000" + new string('0', 32) + "020a0000");
        Assert.True(MembershipReports.IsQuery(mldQuery, Parse(mldQuery)));

        var report = new byte[256];
        var length = MembershipReports.Build(report, PeerMac, PeerV4, [IpAddr.Parse("230.0.0.10")], GroupRecordType.ModeIsExclude);
        Assert.False(MembershipReports.IsQuery(report.AsSpan(0, length), Parse(report.AsSpan(0, length))));
        Assert.Equal(DropReason.UnderlayUnhandled, Process(report[..length]).Reason);
    }

    [Fact]
    public void A_new_group_is_joined_at_once_then_reported_again_after_a_second_and_every_minute()
    {
        var membership = new MulticastMembership();
        IpAddr[] groups = [IpAddr.Parse("230.0.0.10")];
        var now = 100 * Second;

        Assert.True(membership.Due(groups, now));
        membership.Next(groups, now, out var leaves, out var joins, out var state);
        Assert.Equal(groups, joins.ToArray());
        Assert.True(leaves.IsEmpty && state.IsEmpty);

        Assert.False(membership.Due(groups, now + (Second / 2)));
        Assert.True(membership.Due(groups, now + Second));
        membership.Next(groups, now + Second, out _, out joins, out state);
        Assert.True(joins.IsEmpty);
        Assert.Equal(groups, state.ToArray());

        Assert.False(membership.Due(groups, now + (30 * Second)));
        Assert.True(membership.Due(groups, now + Second + MulticastMembership.RefreshTicks));
    }

    [Fact]
    public void A_query_is_answered_with_the_whole_state_and_a_gone_group_is_left()
    {
        var membership = new MulticastMembership();
        IpAddr[] both = [IpAddr.Parse("230.0.0.10"), IpAddr.Parse("230.0.0.20")];
        membership.Next(both, 0, out _, out _, out _);

        membership.Queried();
        Assert.True(membership.Due(both, 1));
        membership.Next(both, 1, out _, out _, out var state);
        Assert.Equal(both, state.ToArray());

        // The same set in a new array (the tables were rebuilt for another reason): nothing to say.
        IpAddr[] same = [.. both];
        membership.Next(same, 2, out var leaves, out var joins, out state);
        Assert.True(leaves.IsEmpty && joins.IsEmpty && state.IsEmpty);

        IpAddr[] one = [IpAddr.Parse("230.0.0.20")];
        membership.Next(one, 3, out leaves, out joins, out _);
        Assert.Equal([IpAddr.Parse("230.0.0.10")], leaves.ToArray());
        Assert.True(joins.IsEmpty);

        membership.Next([], 4, out leaves, out _, out _);
        Assert.Equal(one, leaves.ToArray());
        Assert.True(membership.Reported.IsEmpty);
    }

    [Fact]
    public void A_permanent_group_is_joined_at_start_and_stays_in_every_state_report()
    {
        var solicited = MulticastGroups.SolicitedNodeOf(IpAddr.Parse("2001:db8::12:3456"));
        Assert.Equal(IpAddr.Parse("ff02::1:ff12:3456"), solicited);
        var membership = new MulticastMembership([solicited]);
        IpAddr[] none = [];

        Assert.True(membership.Due(none, 0));
        membership.Next(none, 0, out _, out var joins, out _);
        Assert.Equal([solicited], joins.ToArray());

        IpAddr[] groups = [IpAddr.Parse("ff00::2c6")];
        membership.Next(groups, 1, out _, out joins, out _);
        Assert.Equal(groups, joins.ToArray());
        membership.Queried();
        membership.Next(groups, 2, out _, out _, out var state);
        Assert.Equal([solicited, groups[0]], state.ToArray());

        membership.Next(none, 3, out var leaves, out _, out _);
        Assert.Equal(groups, leaves.ToArray());
        Assert.Equal([solicited], membership.Reported.ToArray());
    }

    private static UnderlayResult Process(byte[] frame) =>
        UnderlayStage.Process(frame, Parse(frame), Us(), new NeighbourTable(8, 100, 10, 1000), 1, new byte[UnderlayStage.ReplyBufferLength]);
}
