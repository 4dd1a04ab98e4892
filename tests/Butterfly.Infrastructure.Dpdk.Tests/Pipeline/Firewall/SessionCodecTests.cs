using Butterfly.Application.Nics;
using Butterfly.Domain.Events;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;
using static Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall.Packets;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Firewall;

/// <summary>nic_export then fw_data: a NIC's connections carried to another zone keep passing there.</summary>
public sealed class SessionCodecTests
{
    [Fact]
    public void Exported_connections_imported_into_another_zone_keep_passing_and_new_ones_are_refused()
    {
        using var source = new FirewallWorld();
        source.Apply(new SecurityGroupDefined("web", [], [FirewallWorld.In(6, "0.0.0.0/0", 80, 80)]));
        source.Groups("b", "web");
        Assert.Equal(DropReason.None, source.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Syn, seq: 100, windowScale: 7)));
        Assert.Equal(DropReason.None, source.BtoA(Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Syn | Ack, seq: 5000, ack: 101, windowScale: 7)));
        Assert.Equal(DropReason.None, source.AtoB(Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 101, ack: 5001, window: 512)));

        // b migrates: its connections go in a document, and into b's zone on the destination,
        // whose "web" group no longer admits port 80.
        var document = SessionDocument.Write(Export(source, "b"));
        var sessions = SessionDocument.Read(document, out var error);
        Assert.Null(error);
        var session = Assert.Single(sessions!);
        Assert.True(session.Inbound);
        Assert.Equal(80, session.LocalPort);
        Assert.Equal(40000, session.RemotePort);
        Assert.True(session.RemainingMilliseconds > 400_000_000);

        using var destination = new FirewallWorld();
        foreach (var s in sessions!)
        {
            var c = SessionCodec.ToConnection(s, destination.Nic("b").Zone);
            c.Expires += destination.Now;
            Assert.True(destination.Stage.Insert(c));
        }
        Assert.Equal(DropReason.None, destination.Receive("b", Tcp("10.0.0.1", 40000, "10.0.0.2", 80, Ack, seq: 101, ack: 5001, window: 512, payload: 100)));
        Assert.Equal(DropReason.None, destination.Send("b", Tcp("10.0.0.2", 80, "10.0.0.1", 40000, Ack, seq: 5001, ack: 201, window: 512, payload: 100, srcMac: MacB)));
        Assert.Equal(DropReason.FirewallInboundDenied, destination.Receive("b", Tcp("10.0.0.1", 40001, "10.0.0.2", 80, Syn)));
    }

    [Fact]
    public void A_document_is_checked_before_use()
    {
        Assert.Null(SessionDocument.Read("BFWX\0\u0001\0\0\0\0\0\0"u8, out var magic));
        Assert.Contains("BFWS", magic, StringComparison.Ordinal);
        var one = SessionDocument.Write([new TrackedSession(true, ((UInt128)0xFFFF << 32) | 1, 1, 2, 2, 6, false, false, 1, default, default)]);
        Assert.Null(SessionDocument.Read(one, out var family));
        Assert.Contains("IP version 4 does not match", family, StringComparison.Ordinal);
        Assert.Null(SessionDocument.Read(one.AsSpan(0, one.Length - 1), out var length));
        Assert.Contains("claims 1 sessions", length, StringComparison.Ordinal);
        var empty = SessionDocument.Write([]);
        Assert.Empty(SessionDocument.Read(empty, out _)!);
    }

    private static List<TrackedSession> Export(FirewallWorld world, string nic)
    {
        var zone = world.Nic(nic).Zone;
        var table = world.Stage.Table;
        var sessions = new List<TrackedSession>();
        for (var i = 0; i < table.HighWater; i++)
        {
            if (table.InUse(i) && table[i].Key.Zone == zone)
            {
                sessions.Add(SessionCodec.ToSession(table[i], world.Now));
            }
        }
        return sessions;
    }
}
