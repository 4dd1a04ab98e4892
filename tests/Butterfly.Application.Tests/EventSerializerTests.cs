using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Domain.SecurityGroups;

namespace Butterfly.Application.Tests;

public class EventSerializerTests
{
    private static readonly RuleSpec Rule = new(Direction.Outbound, 17, 53, 53, new CidrSpec("10.0.0.0", 8), null);
    private static readonly NicSpec Nic = new("vm1", "52:54:00:00:00:01", 5, ["10.0.0.1", "2001:db8::1"], ["sg-1"],
        IpAntiSpoof: true, Type: NicType.Tap, PacketTracePath: "/tmp/x");

    public static TheoryData<DomainEvent> AllEvents() =>
    [
        new NicAdded(Nic),
        new NicAdded(Nic with { Type = NicType.VhostUserServer, SocketPath = "/run/bf/qemu-vhost-vm1" }),
        new NicIpsReplaced("vm1", ["10.0.0.2"]),
        new NicSecurityGroupsReplaced("vm1", ["a", "b"]),
        new NicAntiSpoofChanged("vm1", true),
        new NicPacketTraceChanged("vm1", true, null),
        new NicRemoved("vm1"),
        new SecurityGroupCreated("sg-1"),
        new SecurityGroupDefined("sg-1", ["10.0.0.1"], [Rule, Rule with { Cidr = null, SecurityGroup = "sg-2" }]),
        new SecurityGroupDeleted("sg-1"),
        new RuleAdded("sg-1", Rule),
        new RuleRemoved("sg-1", Rule),
        new MemberAdded("sg-1", "10.0.0.1"),
        new MemberRemoved("sg-1", "10.0.0.1"),
    ];

    [Theory]
    [MemberData(nameof(AllEvents))]
    public void EveryEventRoundTrips(DomainEvent domainEvent)
    {
        var written = EventSerializer.ToNewEvent(domainEvent, new RequestOrigin("cli", "id-9"));
        Assert.Equal(domainEvent.GetType().Name, written.Type);
        Assert.Equal((domainEvent.AggregateKind, domainEvent.AggregateId, "cli", "id-9"), (written.AggregateKind, written.AggregateId, written.Origin, written.MessageId));
        Assert.DoesNotContain("aggregate", written.DataJson, StringComparison.OrdinalIgnoreCase);

        var read = EventSerializer.Deserialize(new StoredEvent(1, DateTimeOffset.UnixEpoch, written.Type, written.AggregateKind, written.AggregateId, written.DataJson, "cli", null));
        Assert.Equal(domainEvent.GetType(), read.GetType());
        Assert.Equal(written.DataJson, EventSerializer.Serialize(read));
        var before = ConfigurationState.From([Nic], [new SecurityGroupSpec("sg-1", ["10.0.0.9"], [Rule])]);
        Assert.True(before.Apply(read).ContentEquals(before.Apply(domainEvent)));
    }

    [Fact]
    public void PayloadsAreCamelCaseWithTextEnums()
    {
        Assert.Equal(
            """{"groupId":"sg-1","rule":{"direction":"outbound","protocol":17,"portStart":53,"portEnd":53,"cidr":{"address":"10.0.0.0","maskSize":8}}}""",
            EventSerializer.Serialize(new RuleAdded("sg-1", Rule)));
        Assert.Equal(
            """{"nic":{"id":"vm1","mac":"52:54:00:00:00:01","vni":5,"ips":["10.0.0.1","2001:db8::1"],"securityGroups":["sg-1"],"ipAntiSpoof":true,"bypassFiltering":false,"type":"tap","packetTrace":false,"packetTracePath":"/tmp/x"}}""",
            EventSerializer.Serialize(new NicAdded(Nic)));
    }

    [Fact]
    public void ANicAddedWrittenBeforeSocketPathsWereKeptReadsAsTheOldPath()
    {
        const string Old = """{"nic":{"id":"vm1","mac":"52:54:00:00:00:01","vni":5,"ips":[],"securityGroups":[],"ipAntiSpoof":false,"bypassFiltering":false,"type":"vhostUserServer","packetTrace":false}}""";
        var read = (NicAdded)EventSerializer.Deserialize(new StoredEvent(1, default, "NicAdded", "nic", "vm1", Old, "", null));
        Assert.Null(read.Nic.SocketPath);
        Assert.Equal(Old, EventSerializer.Serialize(read));
        Assert.EndsWith(""","socketPath":"/s/qemu-vhost-vm1"}}""", EventSerializer.Serialize(new NicAdded(read.Nic with { SocketPath = "/s/qemu-vhost-vm1" })), StringComparison.Ordinal);
    }

    [Fact]
    public void UnreadableEventsAreReportedWithTheirSequence()
    {
        var unknown = Assert.Throws<InvalidDataException>(() => EventSerializer.Deserialize(new StoredEvent(12, default, "NicExploded", "nic", "a", "{}", "", null)));
        Assert.Contains("event 12 has unknown type 'NicExploded'", unknown.Message, StringComparison.Ordinal);
        var broken = Assert.Throws<InvalidDataException>(() => EventSerializer.Deserialize(new StoredEvent(13, default, "NicRemoved", "nic", "a", "{", "", null)));
        Assert.Contains("event 13 (NicRemoved) has an unreadable payload", broken.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SnapshotRoundTripsAndChecksItsVersion()
    {
        var state = ConfigurationState.From([Nic], [new SecurityGroupSpec("sg-1", ["10.0.0.1"], [Rule])]);
        Assert.True(EventSerializer.DeserializeState(EventSerializer.SerializeState(state)).ContentEquals(state));
        Assert.Throws<InvalidDataException>(() => EventSerializer.DeserializeState("""{"version":99,"nics":[],"groups":[]}"""));
        Assert.Throws<InvalidDataException>(() => EventSerializer.DeserializeState("nope"));
    }
}
