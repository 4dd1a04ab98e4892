using System.Diagnostics;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>
/// A firewall as the data path drives it, without EAL: a configuration (NICs, groups) compiled
/// by <see cref="PolicyCompiler"/> for ports 1.., a <see cref="FirewallStage"/>, and a clock the
/// test moves. NIC "a" (10.0.0.1, fd00::1) and NIC "b" (10.0.0.2, fd00::2) by default.
/// </summary>
internal sealed class FirewallWorld : IDisposable
{
    public static readonly long Second = Stopwatch.Frequency;

    private readonly PolicyCompiler _compiler = new();
    private readonly Dictionary<string, FirewallPort> _ports = new(StringComparer.Ordinal);
    private long _version;

    public FirewallWorld(int capacity = 1024, bool cutEstablished = false, ConntrackTimeouts? timeouts = null)
    {
        Stage = new FirewallStage(capacity, timeouts ?? ConntrackTimeouts.Default, cutEstablished);
        State = ConfigurationState.Empty
            .Apply(new NicAdded(NicSpecOf("a", Packets.MacA, "10.0.0.1", "fd00::1")))
            .Apply(new NicAdded(NicSpecOf("b", Packets.MacB, "10.0.0.2", "fd00::2")));
        Compile();
    }

    public FirewallStage Stage { get; }

    public ConfigurationState State { get; private set; }

    public FirewallPolicy Policy { get; private set; } = FirewallPolicy.Empty;

    public long Now { get; set; } = 1000 * Second;

    public static NicSpec NicSpecOf(string id, MacAddress mac, params string[] ips) =>
        new(id, mac.ToString(), 42, ips, [], Type: NicType.Tap);

    public NicFilter Nic(string id) => _compiler.FilterOf(id) ?? throw new InvalidOperationException($"NIC {id} has no port");

    /// <summary>Applies events and compiles incrementally, as a commit does.</summary>
    public void Apply(params DomainEvent[] events)
    {
        var previous = _version;
        State = State.ApplyAll(events);
        Compile(events, previous);
    }

    /// <summary>Replaces the NIC's groups.</summary>
    public void Groups(string nic, params string[] groups) => Apply(new NicSecurityGroupsReplaced(nic, groups));

    public static RuleSpec In(int protocol, string cidr, uint? first = null, uint? last = null, uint? icmpType = null, uint? icmpCode = null)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        return new RuleSpec(Direction.Inbound, protocol, first, last, new CidrSpec(cidr[..slash], uint.Parse(cidr[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture)), null, icmpType, icmpCode);
    }

    public static RuleSpec Out(int protocol, string cidr, uint? first = null, uint? last = null) =>
        In(protocol, cidr, first, last) with { Direction = Direction.Outbound };

    public static RuleSpec InFromGroup(int protocol, string group, uint? first = null, uint? last = null) =>
        new(Direction.Inbound, protocol, first, last, null, group);

    /// <summary>The frame sent by NIC <paramref name="from"/> (anti-spoof + egress).</summary>
    public DropReason Send(string from, byte[] frame)
    {
        var meta = Packets.Parse(frame);
        return Stage.FromNic(Nic(from), Policy, frame, meta, Now);
    }

    /// <summary>The frame arriving at NIC <paramref name="to"/> (ingress).</summary>
    public DropReason Receive(string to, byte[] frame)
    {
        var meta = Packets.Parse(frame);
        return Stage.ToNic(Nic(to), Policy, frame, meta, Now);
    }

    /// <summary>A frame from a to b on this host (sent with a's MAC): a's egress, then b's ingress.</summary>
    public DropReason AtoB(byte[] frame) => Between("a", "b", frame);

    /// <summary>A frame from b to a on this host (sent with b's MAC).</summary>
    public DropReason BtoA(byte[] frame) => Between("b", "a", frame);

    private DropReason Between(string from, string to, byte[] frame)
    {
        Nic(from).Mac.Write(frame.AsSpan(EthernetHeader.SourceOffset));
        var r = Send(from, frame);
        return r != DropReason.None ? r : Receive(to, frame);
    }

    public void Dispose() => Stage.Dispose();

    private void Compile(IReadOnlyList<DomainEvent>? events = null, long previous = -1)
    {
        foreach (var id in State.Nics.Keys)
        {
            if (!_ports.ContainsKey(id))
            {
                var handle = (ushort)(_ports.Count + 1);
                _ports[id] = new FirewallPort(handle, (1u << 16) | handle);
            }
        }
        _version++;
        Policy = _compiler.Compile(State, _ports, 64, _version, events, previous);
    }
}
