using Butterfly.Infrastructure.Dpdk.Native;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Stage: the VTEP's IGMP/MLD membership of the per-VNI flood groups (multicast flooding mode).
/// The tables name the groups (<see cref="SwitchTables.MulticastGroups"/>, empty in head-end
/// mode); <see cref="MulticastMembership"/> decides when to report, this half builds the reports
/// in fresh mbufs and sends them out of the underlay. Queries arriving on the underlay are
/// recognised by <see cref="UnderlayStage"/> and answered from here on the next round.
/// Cost: two reference comparisons and one clock comparison per round when nothing is due.
/// </summary>
internal sealed unsafe partial class Forwarder
{
    private readonly MulticastMembership _membership;

    /// <summary>The tables of the previous round (which VNIs were here).</summary>
    private SwitchTables _housekeptTables = SwitchTables.Empty;

    /// <summary>Connection-table entries visited every round, busy or not (a full pass of 1 M entries every 16 k rounds).</summary>
    private const int BusyConnectionSweepBudget = 64;

    /// <summary>
    /// The per-round chores: a slice of the connection table swept, learned MACs of VNIs that left
    /// (when the tables change), parked frames whose next hop may have resolved, membership
    /// reports that are due. Called by the packet thread once per round.
    /// </summary>
    internal void Housekeeping(SwitchTables tables, FirewallPolicy policy, long now)
    {
        // A little of the connection table every round, so expiry keeps up under load too.
        _firewall.Sweep(policy, now, BusyConnectionSweepBudget);
        if (!ReferenceEquals(tables, _housekeptTables))
        {
            // New tables: the remote MACs of a VNI whose last NIC left go with it.
            _learned.ForgetVnisThatLeft(_housekeptTables, tables);
            _housekeptTables = tables;
        }
        RetryParked(now);
        Membership(tables, now);
    }

    /// <summary>Sends the membership reports that are due.</summary>
    private void Membership(SwitchTables tables, long now)
    {
        var config = _underlayConfig;
        var groups = tables.MulticastGroups;
        if (config is null || !_membership.Due(groups, now))
        {
            return;
        }
        _membership.Next(groups, now, out var leaves, out var joins, out var state);
        SendReports(config, leaves, GroupRecordType.ChangeToInclude);
        SendReports(config, joins, GroupRecordType.ChangeToExclude);
        SendReports(config, state, GroupRecordType.ModeIsExclude);
        FlushAll();
    }

    /// <summary>Reports <paramref name="groups"/> with <paramref name="type"/> records, as many reports as the MTU needs.</summary>
    private void SendReports(UnderlayConfig config, ReadOnlySpan<IpAddr> groups, GroupRecordType type)
    {
        while (!groups.IsEmpty)
        {
            var m = AllocFrame(out var room);
            if (m == 0)
            {
                return;
            }
            var v4 = groups[0].IsV4;
            var perFrame = MembershipReports.MaxRecords(v4, config.Mtu);
            while (perFrame > 1 && MembershipReports.FrameLength(v4, perFrame) > room.Length)
            {
                perFrame--;
            }
            var chunk = groups[..Math.Min(perFrame, groups.Length)];
            if (!StageFrame(m, MembershipReports.Build(room, config.Mac, config.Ipv4Address, chunk, type)))
            {
                return;
            }
            groups = groups[chunk.Length..];
        }
    }
}
