using Butterfly.Application;
using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Wire;
using Google.Protobuf.Collections;
using V0 = Butterfly.Wire.MessageV0.Types;
using WireNic = Butterfly.Wire.MessageV0.Types.Nic;
using WireRule = Butterfly.Wire.MessageV0.Types.Rule;
using WireSg = Butterfly.Wire.MessageV0.Types.Sg;

namespace Butterfly.Api.Zmq.Server;

/// <summary>
/// The one place where wire messages (Protos/message_0.proto) become Application requests
/// and Application results become wire messages. Only shape is handled here: validation of
/// values (MACs, IPs, ranges) belongs to the domain, whose descriptions reach the client.
/// Where the wire itself cannot express a request (two ids, a bad time), a description
/// says which field is wrong.
/// </summary>
internal static class ProtoMapper
{
    /// <summary>Default and maximum page size of event_list.</summary>
    public const int DefaultEventLimit = 100;

    public const int MaxEventLimit = 10_000;

    // ---- wire -> Application ----

    /// <param name="defaultPacketTrace">The daemon's --packet-trace, used when the NIC does not say.</param>
    public static NicSpec ToNicSpec(WireNic nic, bool defaultPacketTrace) => new(
        nic.Id,
        nic.Mac,
        nic.Vni,
        [.. nic.Ip],
        [.. nic.SecurityGroup],
        IpAntiSpoof: nic.IpAntiSpoof,
        SniffTargetNicId: nic.HasSniffTargetNicId ? nic.SniffTargetNicId : null,
        BypassFiltering: nic.BypassFiltering,
        Type: ToNicType(nic.Type),
        PacketTrace: nic.HasPacketTrace ? nic.PacketTrace : defaultPacketTrace,
        PacketTracePath: nic.HasPacketTracePath ? nic.PacketTracePath : null,
        BenchType: nic.HasBtype ? nic.Btype : null,
        BenchDestIp: nic.HasDip ? nic.Dip : null,
        BenchDestMac: nic.HasDmac ? nic.Dmac : null);

    public static UpdateNic ToUpdateNic(V0.NicUpdateReq update, RequestOrigin origin) => new(
        update.Id,
        update.HasIpAntiSpoof ? update.IpAntiSpoof : null,
        ReplacementList(update.Ip),
        ReplacementList(update.SecurityGroup),
        update.HasPacketTrace ? update.PacketTrace : null,
        update.HasPacketTracePath ? update.PacketTracePath : null,
        origin,
        update.HasBypassFiltering ? update.BypassFiltering : null,
        SessionsOf(update.FwData));

    /// <summary>The bytes of a fw_data field (a nic_export document), or null when absent.</summary>
    public static byte[]? SessionsOf(V0.FwData? data) => data is { HasData: true } ? data.Data.ToByteArray() : null;

    public static SecurityGroupSpec ToGroup(WireSg sg) =>
        new(sg.Id, [.. sg.Member], [.. sg.Rule.Select(ToRule)]);

    public static RuleSpec ToRule(WireRule rule) => new(
        (Direction)(int)rule.Direction,
        rule.Protocol,
        rule.HasPortStart ? rule.PortStart : null,
        rule.HasPortEnd ? rule.PortEnd : null,
        rule.Cidr is { } cidr ? new CidrSpec(cidr.Address, cidr.MaskSize) : null,
        rule.HasSecurityGroup ? rule.SecurityGroup : null,
        rule.HasIcmpType ? rule.IcmpType : null,
        rule.HasIcmpCode ? rule.IcmpCode : null);

    public static Outcome<EventFilter> ToEventFilter(V0.EventListReq request)
    {
        if (request.HasNicId && request.HasSgId)
        {
            return Outcome<EventFilter>.Failure("event_list: set nic_id or sg_id, not both");
        }

        var limit = request.HasLimit && request.Limit > 0 ? request.Limit : DefaultEventLimit;
        if (limit > MaxEventLimit)
        {
            return Outcome<EventFilter>.Failure($"event_list.limit {limit} is above the maximum of {MaxEventLimit}");
        }

        var since = request.HasSinceUnixMs ? ToTime(request.SinceUnixMs, "event_list.since_unix_ms") : default;
        if (since.Error is not null)
        {
            return Outcome<EventFilter>.Failure(since.Error);
        }

        var until = request.HasUntilUnixMs ? ToTime(request.UntilUnixMs, "event_list.until_unix_ms") : default;
        if (until.Error is not null)
        {
            return Outcome<EventFilter>.Failure(until.Error);
        }

        return Outcome<EventFilter>.Success(new EventFilter(
            AggregateKind: request.HasNicId ? "nic" : request.HasSgId ? "sg" : null,
            AggregateId: request.HasNicId ? request.NicId : request.HasSgId ? request.SgId : null,
            Since: request.HasSinceUnixMs ? since.Value : null,
            Until: request.HasUntilUnixMs ? until.Value : null,
            AfterSequence: request.HasAfterSequence ? ToSequence(request.AfterSequence) : 0,
            UntilSequence: request.HasUntilSequence ? ToSequence(request.UntilSequence) : null,
            Limit: (int)limit));
    }

    public static Outcome<PointInTime> ToPointInTime(V0.PointInTime at, string field)
    {
        if (at.HasSequence == at.HasUnixMs)
        {
            return Outcome<PointInTime>.Failure($"{field}: set exactly one of sequence and unix_ms");
        }

        if (at.HasSequence)
        {
            return Outcome<PointInTime>.Success(new PointInTime(ToSequence(at.Sequence), null));
        }

        var time = ToTime(at.UnixMs, field + ".unix_ms");
        return time.Error is null
            ? Outcome<PointInTime>.Success(new PointInTime(null, time.Value))
            : Outcome<PointInTime>.Failure(time.Error);
    }

    // ---- Application -> wire ----

    /// <param name="path">The NIC's vhost-user socket or tap name, when known.</param>
    /// <param name="portError">Why the NIC's port is not working, or null when it works.</param>
    public static WireNic ToWire(NicSpec spec, string? path, string? portError = null)
    {
        var nic = new WireNic
        {
            Id = spec.Id,
            Mac = spec.Mac,
            Vni = spec.Vni,
            Ip = { spec.Ips },
            SecurityGroup = { spec.SecurityGroups },
            IpAntiSpoof = spec.IpAntiSpoof,
            BypassFiltering = spec.BypassFiltering,
            // Always present, so that `butterfly dump` then `request` keeps TAP and BENCH NICs.
            Type = (WireNic.Types.Type)(int)spec.Type,
            PacketTrace = spec.PacketTrace,
        };
        SetIfNotNull(spec.SniffTargetNicId, v => nic.SniffTargetNicId = v);
        SetIfNotNull(path, v => nic.Path = v);
        // Always present, with the default when the NIC was added without one, like the original.
        nic.PacketTracePath = spec.PacketTracePath ?? NicValidation.DefaultPacketTracePath(spec.Id);
        SetIfNotNull(spec.BenchType, v => nic.Btype = v);
        SetIfNotNull(spec.BenchDestIp, v => nic.Dip = v);
        SetIfNotNull(spec.BenchDestMac, v => nic.Dmac = v);
        SetIfNotNull(portError, v => nic.PortError = v);
        return nic;
    }

    public static WireSg ToWire(SecurityGroupSpec group) => new()
    {
        Id = group.Id,
        Member = { group.Members },
        Rule = { group.Rules.Select(ToWire) },
    };

    public static WireRule ToWire(RuleSpec rule)
    {
        var wire = new WireRule { Direction = (WireRule.Types.Direction)(int)rule.Direction, Protocol = rule.Protocol };
        if (rule.PortStart is { } start)
        {
            wire.PortStart = start;
        }

        if (rule.PortEnd is { } end)
        {
            wire.PortEnd = end;
        }

        if (rule.Cidr is { } cidr)
        {
            wire.Cidr = new V0.Cidr { Address = cidr.Address, MaskSize = cidr.MaskSize };
        }

        SetIfNotNull(rule.SecurityGroup, v => wire.SecurityGroup = v);
        if (rule.IcmpType is { } type)
        {
            wire.IcmpType = type;
        }

        if (rule.IcmpCode is { } code)
        {
            wire.IcmpCode = code;
        }

        return wire;
    }

    public static V0.NicStats ToWire(NicCounters counters)
    {
        var stats = new V0.NicStats
        {
            In = counters.BytesIn,
            Out = counters.BytesOut,
            PacketsIn = counters.PacketsIn,
            PacketsOut = counters.PacketsOut,
            Drops = counters.Drops,
            Drop = { (counters.FilterDrops ?? []).Select(d => new V0.DropCount { Reason = d.Reason, Frames = d.Frames }) },
        };
        if (counters.Trace is { } trace)
        {
            stats.Trace = new V0.TraceStats
            {
                Path = trace.Path,
                Frames = trace.Frames,
                Bytes = trace.Bytes,
                Dropped = trace.Dropped,
                Rotations = (uint)Math.Max(0, trace.Rotations),
            };
            SetIfNotNull(trace.Error, v => stats.Trace.Error = v);
        }

        if (counters.Bench is { } bench)
        {
            stats.Bench = new V0.BenchStats { Btype = bench.Kind, Sent = bench.Sent, Received = bench.Received };
            if (bench.MinMicros is { } min)
            {
                stats.Bench.RttMinUs = min;
            }

            if (bench.MeanMicros is { } mean)
            {
                stats.Bench.RttMeanUs = mean;
            }

            if (bench.MaxMicros is { } max)
            {
                stats.Bench.RttMaxUs = max;
            }

            if (bench.P99Micros is { } p99)
            {
                stats.Bench.RttP99Us = p99;
            }
        }

        return stats;
    }

    public static V0.AppStatusRes ToWire(AppStatus status)
    {
        var res = new V0.AppStatusRes
        {
            StartDate = (ulong)Math.Max(0, status.StartedAt.ToUnixTimeSeconds()),
            CurrentDate = (ulong)Math.Max(0, status.Now.ToUnixTimeSeconds()),
            RequestCounter = status.RequestCounter,
            GraphDot = status.GraphDot,
            NicPortError = { (status.PortErrors ?? []).Select(e => new V0.NicPortError { NicId = e.NicId, Reason = e.Reason }) },
        };
        SetIfNotNull(status.DataPathError, v => res.DataPathError = v);
        return res;
    }

    public static V0.EventListRes ToWire(EventPage page)
    {
        var res = new V0.EventListRes { Event = { page.Events.Select(ToWire) }, LastSequence = (ulong)Math.Max(0, page.LastSequence) };
        if (page.NextAfterSequence is { } next)
        {
            res.NextAfterSequence = (ulong)Math.Max(0, next);
        }

        SetIfNotNull(page.HostId, v => res.HostId = v);
        return res;
    }

    public static V0.Event ToWire(StoredEvent e)
    {
        var wire = new V0.Event
        {
            Sequence = (ulong)Math.Max(0, e.Sequence),
            UnixMs = (ulong)Math.Max(0, e.Timestamp.ToUnixTimeMilliseconds()),
            Type = e.Type,
            AggregateKind = e.AggregateKind,
            AggregateId = e.AggregateId,
            DataJson = e.DataJson,
            Origin = e.Origin,
        };
        SetIfNotNull(e.MessageId, v => wire.MessageId = v);
        SetIfNotNull(e.Audit?.Cause, v => wire.Cause = v);
        SetIfNotNull(e.Audit?.PeerAddress, v => wire.PeerAddress = v);
        SetIfNotNull(e.Audit?.ClientKey, v => wire.ClientKey = v);
        return wire;
    }

    /// <param name="pathOf">The path of a NIC as nic_details shows it.</param>
    public static V0.StateRes ToWire(ConfigurationView view, Func<NicSpec, string?> pathOf)
    {
        var res = new V0.StateRes
        {
            Sequence = (ulong)Math.Max(0, view.Sequence),
            Nic = { view.Nics.Select(n => ToWire(n, pathOf(n))) },
            Sg = { view.Groups.Select(ToWire) },
        };
        if (view.Timestamp is { } time)
        {
            res.UnixMs = (ulong)Math.Max(0, time.ToUnixTimeMilliseconds());
        }

        SetIfNotNull(view.HostId, v => res.HostId = v);
        return res;
    }

    public static V0.RestoreRes ToWire(RestoreSummary summary) => new()
    {
        TargetSequence = (ulong)Math.Max(0, summary.TargetSequence),
        EventsAppended = (uint)Math.Max(0, summary.EventsAppended),
        LastSequence = (ulong)Math.Max(0, summary.LastSequence),
    };

    public static V0.PacketThreadStatsRes ToWire(PacketThreadStats stats)
    {
        var res = ToWireCounters(stats);
        if (stats.Conntrack is { } ct)
        {
            res.ConntrackEntries = (ulong)Math.Max(0, ct.Entries);
            res.ConntrackCapacity = (ulong)Math.Max(0, ct.Capacity);
            res.ConntrackOpened = ct.Opened;
            res.ConntrackExpired = ct.Expired;
            res.FirewallVersion = (ulong)Math.Max(0, ct.FirewallVersion);
        }

        return res;
    }

    private static V0.PacketThreadStatsRes ToWireCounters(PacketThreadStats stats) => new()
    {
        Lcore = stats.Lcore,
        Cpu = stats.Cpu,
        Rounds = stats.Rounds,
        BusyRounds = stats.BusyRounds,
        Packets = stats.Packets,
        Bursts = stats.Bursts,
        BusyCycles = stats.BusyCycles,
        IdleCycles = stats.IdleCycles,
        TscHz = stats.TscHz,
        Drop = { stats.Drops.Select(d => new V0.DropCount { Reason = d.Reason, Frames = d.Frames }) },
        PollGaps = { stats.PollGaps ?? [] },
    };

    public static DataPathNic ToDataPathNic(NicSpec spec) => DataPathNic.From(spec);

    // ---- helpers ----

    private static NicType ToNicType(WireNic.Types.Type type) => type switch
    {
        WireNic.Types.Type.Tap => NicType.Tap,
        WireNic.Types.Type.Bench => NicType.Bench,
        _ => NicType.VhostUserServer,
    };

    /// <summary>
    /// nic_update list semantics: an absent (empty) repeated field leaves the list unchanged;
    /// a present one replaces it, and empty strings in it are dropped, so a single "" clears.
    /// </summary>
    private static IReadOnlyList<string>? ReplacementList(RepeatedField<string> field) =>
        field.Count == 0 ? null : [.. field.Where(v => v.Length > 0)];

    private static long ToSequence(ulong value) => value > long.MaxValue ? long.MaxValue : (long)value;

    private static Outcome<DateTimeOffset> ToTime(ulong unixMs, string field)
    {
        const long MaxUnixMs = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
        return unixMs > MaxUnixMs
            ? Outcome<DateTimeOffset>.Failure($"{field} {unixMs} is not a time (milliseconds since 1970-01-01 up to year 9999)")
            : Outcome<DateTimeOffset>.Success(DateTimeOffset.FromUnixTimeMilliseconds((long)unixMs));
    }

    private static void SetIfNotNull(string? value, Action<string> set)
    {
        if (value is not null)
        {
            set(value);
        }
    }
}
