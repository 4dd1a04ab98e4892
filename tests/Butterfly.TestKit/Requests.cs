using Butterfly.Wire;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.TestKit;

/// <summary>Builders of API requests, so tests read as the protocol does.</summary>
public static class Requests
{
    /// <summary>A Messages with one Message per request (revision 6), each with an optional message_id.</summary>
    public static Messages Batch(IEnumerable<V0.Request> requests, string? messageId = null)
    {
        var messages = new Messages();
        foreach (var request in requests)
        {
            var v0 = new MessageV0 { Request = request };
            if (messageId is not null)
            {
                v0.MessageId = messageId;
            }

            messages.Messages_.Add(new Message { Revision = WireProtocol.Revision, Message0 = v0 });
        }

        return messages;
    }

    /// <summary>A NIC; without <paramref name="mac"/>, one derived from the id (<see cref="MacOf"/>), since two NICs of one VNI cannot share a MAC.</summary>
    public static V0.Nic Nic(string id, string? mac = null, uint vni = 1, IEnumerable<string>? ips = null,
        IEnumerable<string>? sgs = null, V0.Nic.Types.Type? type = null)
    {
        var nic = new V0.Nic { Id = id, Mac = mac ?? MacOf(id), Vni = vni };
        nic.Ip.AddRange(ips ?? []);
        nic.SecurityGroup.AddRange(sgs ?? []);
        if (type is { } t)
        {
            nic.Type = t;
        }

        return nic;
    }

    public static V0.Request NicAdd(V0.Nic nic) => new() { NicAdd = nic };

    public static V0.Request NicAdd(string id, string? mac = null, uint vni = 1, IEnumerable<string>? ips = null,
        IEnumerable<string>? sgs = null, V0.Nic.Types.Type? type = null) => NicAdd(Nic(id, mac, vni, ips, sgs, type));

    /// <summary>A unicast MAC (52:54:…, QEMU's prefix) that depends only on <paramref name="id"/>: the same every run.</summary>
    public static string MacOf(string id)
    {
        var hash = 2166136261u; // FNV-1a
        foreach (var c in id)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"52:54:{hash >> 24:x2}:{(hash >> 16) & 0xff:x2}:{(hash >> 8) & 0xff:x2}:{hash & 0xff:x2}");
    }

    public static V0.Request NicUpdate(V0.NicUpdateReq update) => new() { NicUpdate = update };

    public static V0.Request NicDel(string id) => new() { NicDel = id };

    public static V0.Request NicList() => new() { NicList = true };

    public static V0.Request NicDetails(string id = "") => new() { NicDetails = id };

    public static V0.Request NicExport(string id) => new() { NicExport = id };

    public static V0.Request NicStats(string id) => new() { NicStats = id };

    public static V0.Request SgAdd(string id, IEnumerable<string>? members = null, IEnumerable<V0.Rule>? rules = null)
    {
        var sg = new V0.Sg { Id = id };
        sg.Member.AddRange(members ?? []);
        sg.Rule.AddRange(rules ?? []);
        return new V0.Request { SgAdd = sg };
    }

    /// <summary>The group tests about switching, tunnels and guests put their NICs in: every inbound flow, IPv4 and IPv6.</summary>
    public const string OpenGroup = "open";

    /// <summary>
    /// sg_add of <see cref="OpenGroup"/>: INBOUND all protocols from 0.0.0.0/0 and ::/0. Tests that
    /// are not about the firewall still pass every frame through it (anti-spoofing, connection
    /// tracking), so the firewall carries their real traffic too.
    /// </summary>
    public static V0.Request SgAddOpen() => SgAdd(OpenGroup, rules:
    [
        Rule(V0.Rule.Types.Direction.Inbound, -1, "0.0.0.0/0"),
        Rule(V0.Rule.Types.Direction.Inbound, -1, "::/0"),
    ]);

    public static V0.Request SgDel(string id) => new() { SgDel = id };

    public static V0.Request SgList() => new() { SgList = true };

    public static V0.Request SgDetails(string id = "") => new() { SgDetails = id };

    /// <summary>A rule with a CIDR source; ports are set when given.</summary>
    public static V0.Rule Rule(V0.Rule.Types.Direction direction, int protocol, string cidr, uint? portStart = null, uint? portEnd = null)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        var rule = new V0.Rule
        {
            Direction = direction,
            Protocol = protocol,
            Cidr = new V0.Cidr { Address = cidr[..slash], MaskSize = uint.Parse(cidr[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture) },
        };
        if (portStart is { } start)
        {
            rule.PortStart = start;
        }

        if (portEnd is { } end)
        {
            rule.PortEnd = end;
        }

        return rule;
    }

    /// <summary>A rule whose source is the members of another security group.</summary>
    public static V0.Rule RuleFromGroup(V0.Rule.Types.Direction direction, int protocol, string sgId, uint? portStart = null, uint? portEnd = null)
    {
        var rule = new V0.Rule { Direction = direction, Protocol = protocol, SecurityGroup = sgId };
        if (portStart is { } start)
        {
            rule.PortStart = start;
        }

        if (portEnd is { } end)
        {
            rule.PortEnd = end;
        }

        return rule;
    }

    public static V0.Request SgRuleAdd(string sgId, V0.Rule rule) => new() { SgRuleAdd = new V0.SgRuleAddReq { SgId = sgId, Rule = rule } };

    public static V0.Request SgRuleDel(string sgId, V0.Rule rule) => new() { SgRuleDel = new V0.SgRuleDelReq { SgId = sgId, Rule = rule } };

    public static V0.Request SgRuleList(string sgId) => new() { SgRuleList = sgId };

    public static V0.Request SgMemberAdd(string sgId, string member) => new() { SgMemberAdd = new V0.SgMemberAddReq { SgId = sgId, Member = member } };

    public static V0.Request SgMemberDel(string sgId, string member) => new() { SgMemberDel = new V0.SgMemberDelReq { SgId = sgId, Member = member } };

    public static V0.Request SgMemberList(string sgId) => new() { SgMemberList = sgId };

    public static V0.Request AppStatus() => new() { AppStatus = true };

    public static V0.Request AppQuit() => new() { AppQuit = true };

    public static V0.Request AppConfig(string logLevel) => new() { AppConfig = new V0.AppConfigReq { LogLevel = logLevel } };

    public static V0.Request EventList(V0.EventListReq filter) => new() { EventList = filter };

    public static V0.Request StateAt(ulong sequence) => new() { StateAt = new V0.PointInTime { Sequence = sequence } };

    public static V0.Request RestoreTo(ulong sequence) => new() { RestoreTo = new V0.PointInTime { Sequence = sequence } };
}
