using System.Diagnostics;

namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>
/// When the VTEP reports which per-VNI groups it wants (<see cref="MembershipReports"/>), as an
/// IGMPv3/MLDv2 host does (RFC 3376 §5, RFC 3810 §6), driven by the packet thread once per round:
/// - the set changes (a VNI gets its first local NIC or loses its last): a join record for each
///   new group, a leave record for each group gone, and the whole state once more after
///   <see cref="RepeatTicks"/> in case the first report was lost (the robustness variable, 2);
/// - a query arrives: the whole state, at once (one VTEP per port: no report suppression to do);
/// - every <see cref="RefreshTicks"/>: the whole state, so a snooping switch without a querier
///   (which would otherwise time entries out) keeps forwarding the groups to us.
/// Besides the tables' groups, permanent ones (an IPv6 VTEP's solicited-node group) are joined at
/// start and kept.
/// State: the groups last reported (the tables' sorted array) and the schedule. Packet thread only.
/// Allocates only when a set grows past every earlier one (scratch arrays), never per packet.
/// </summary>
internal sealed class MulticastMembership
{
    public static readonly long RepeatTicks = Stopwatch.Frequency;
    public static readonly long RefreshTicks = 60 * Stopwatch.Frequency;

    private readonly IpAddr[] _permanent;
    private IpAddr[] _reported = [];
    private IpAddr[] _state;
    private int _stateCount;
    private IpAddr[] _joins = new IpAddr[16];
    private IpAddr[] _leaves = new IpAddr[16];
    private long _nextReport = long.MaxValue;
    private bool _joinPermanent;
    private bool _queried;

    /// <param name="permanent">Groups wanted for as long as the VTEP runs, whatever the tables say: the solicited-node group of an IPv6 VTEP address, so snooping switches pass neighbour solicitations to us.</param>
    public MulticastMembership(IpAddr[]? permanent = null)
    {
        _permanent = permanent ?? [];
        _joinPermanent = _permanent.Length != 0;
        _state = [.. _permanent];
        _stateCount = _state.Length;
    }

    /// <summary>Groups reported as wanted now (the permanent ones first).</summary>
    public ReadOnlySpan<IpAddr> Reported => _state.AsSpan(0, _stateCount);

    /// <summary>Records that a query arrived: the next <see cref="Next"/> answers it.</summary>
    public void Queried() => _queried = true;

    /// <summary>
    /// Cheap test, once per round: true when <see cref="Next"/> has something to send for the
    /// tables' sorted <paramref name="groups"/> at <paramref name="now"/>.
    /// </summary>
    public bool Due(IpAddr[] groups, long now) =>
        !ReferenceEquals(groups, _reported) || _joinPermanent || _queried || now >= _nextReport;

    /// <summary>
    /// What to send now: <paramref name="leaves"/> (leave records), <paramref name="joins"/> (join
    /// records) and <paramref name="state"/> (current-state records, for a query, the repeat and
    /// the refresh). Any may be empty. The spans are valid until the next call.
    /// </summary>
    public void Next(IpAddr[] groups, long now, out ReadOnlySpan<IpAddr> leaves, out ReadOnlySpan<IpAddr> joins, out ReadOnlySpan<IpAddr> state)
    {
        leaves = default;
        joins = default;
        state = default;
        if (!ReferenceEquals(groups, _reported) || _joinPermanent)
        {
            var joinCount = 0;
            if (_joinPermanent)
            {
                Grow(ref _joins, _permanent.Length + groups.Length);
                _permanent.CopyTo(_joins, 0);
                joinCount = _permanent.Length;
                _joinPermanent = false;
            }
            Diff(_reported, groups, joinCount, out var leaveCount, out var added);
            joinCount += added;
            _reported = groups;
            RebuildState();
            if (leaveCount + joinCount != 0)
            {
                leaves = _leaves.AsSpan(0, leaveCount);
                joins = _joins.AsSpan(0, joinCount);
                // The repeat: the whole state once more, soon.
                _nextReport = now + RepeatTicks;
                return;
            }
        }
        if (!_queried && now < _nextReport)
        {
            return;
        }
        _queried = false;
        state = Reported;
        _nextReport = _stateCount == 0 ? long.MaxValue : now + RefreshTicks;
    }

    private void RebuildState()
    {
        Grow(ref _state, _permanent.Length + _reported.Length);
        _permanent.CopyTo(_state, 0);
        _reported.CopyTo(_state, _permanent.Length);
        _stateCount = _permanent.Length + _reported.Length;
    }

    private static void Grow(ref IpAddr[] array, int length)
    {
        if (array.Length < length)
        {
            array = new IpAddr[Math.Max(length, array.Length * 2)];
        }
    }

    /// <summary>
    /// Merges two sorted arrays: what is only in the old one leaves, what is only in the new one
    /// joins (written from <paramref name="joinOffset"/> on).
    /// </summary>
    private void Diff(IpAddr[] old, IpAddr[] now, int joinOffset, out int leaveCount, out int joinCount)
    {
        Grow(ref _leaves, old.Length);
        Grow(ref _joins, joinOffset + now.Length);
        leaveCount = 0;
        joinCount = 0;
        int i = 0, j = 0;
        while (i < old.Length || j < now.Length)
        {
            var c = i == old.Length ? 1 : j == now.Length ? -1 : Compare(old[i], now[j]);
            if (c < 0)
            {
                _leaves[leaveCount++] = old[i++];
            }
            else if (c > 0)
            {
                _joins[joinOffset + joinCount++] = now[j++];
            }
            else
            {
                i++;
                j++;
            }
        }
    }

    /// <summary>The order of <see cref="SwitchTables.MulticastGroups"/>.</summary>
    public static int Compare(IpAddr a, IpAddr b) => a.Hi != b.Hi ? a.Hi.CompareTo(b.Hi) : a.Lo.CompareTo(b.Lo);
}
