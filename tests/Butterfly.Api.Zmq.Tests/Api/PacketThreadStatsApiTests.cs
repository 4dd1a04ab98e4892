using System.Diagnostics;
using Butterfly.TestKit;
using Butterfly.Wire;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// packet_thread_stats (revision 8) on a real daemon: frames written into a tap NIC from the
/// host side (an AF_PACKET socket on the kernel end of the tap) are received by the packet
/// thread and dropped for a known reason, and the statistics say so.
/// </summary>
public sealed class PacketThreadStatsApiTests
{
    /// <summary>
    /// Writes raw Ethernet frames on an interface: argv = interface, count, destination MAC,
    /// source MAC (colon hex). EtherType 0x88b5 (IEEE local experimental), 46 bytes of payload.
    /// </summary>
    private const string SendFrames = """
        import socket, sys
        name, count, dst, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        frame = bytes.fromhex(dst.replace(":", "")) + bytes.fromhex(src.replace(":", "")) + b"\x88\xb5" + bytes(46)
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((name, 0))
        for _ in range(count):
            s.send(frame)
        """;

    [Fact]
    public async Task Frames_sent_into_a_nic_are_counted_with_cycles_bursts_and_drop_reasons_and_clear_starts_over()
    {
        await using var daemon = await DaemonProcess.StartAsync();
        using var api = daemon.CreateClient(TimeSpan.FromSeconds(30));
        var tap = "bfs" + daemon.Port;
        var nic = Requests.Nic(tap, "52:54:00:5a:00:01", 7001, type: V0.Nic.Types.Type.Tap);
        ApiAssert.Ok(api.Call(Requests.NicAdd(nic)));
        Run("ip", "link", "set", "dev", tap, "up");

        // An empty request body is a plain reading (clear is false by default).
        var first = ApiAssert.Ok(api.Call(new V0.Request { PacketThreadStats = new V0.PacketThreadStatsReq() })).PacketThreadStats;
        var idle = Stats(api, clear: true);
        Assert.True(idle.Rounds >= first.Rounds && idle.IdleCycles >= first.IdleCycles, $"{first} then {idle}");
        Assert.True(idle.Rounds > 0, $"an idle thread still polls: {idle}");
        Assert.True(idle.TscHz > 0, $"tsc_hz: {idle}");
        Assert.True(idle.IdleCycles > 0, $"idle cycles: {idle}");

        // A multicast source MAC is never valid: the parser drops it (ethernet_source_multicast).
        Run("/usr/bin/python3", "-c", SendFrames, tap, "20", "ff:ff:ff:ff:ff:ff", "03:00:00:00:00:01");
        // Valid broadcasts: received and flooded (where to depends on the daemon's flooding mode).
        Run("/usr/bin/python3", "-c", SendFrames, tap, "10", "ff:ff:ff:ff:ff:ff", "52:54:00:5a:00:01");

        var stats = await Until(api, s => Drop(s, "ethernet_source_multicast") >= 20 && s.Packets >= 30);
        Assert.Equal(20UL, Drop(stats, "ethernet_source_multicast"));
        // The kernel may add frames of its own on the tap (IPv6 autoconfiguration), never fewer.
        Assert.True(stats.Packets >= 30, $"packets: {stats}");
        Assert.True(stats.Bursts > 0 && stats.Bursts <= stats.Packets, $"bursts: {stats}");
        Assert.True(stats.BusyRounds > 0 && stats.BusyRounds <= stats.Bursts, $"busy rounds: {stats}");
        Assert.True(stats.BusyCycles > 0, $"busy cycles: {stats}");
        Assert.True(stats.Rounds > stats.BusyRounds, $"rounds: {stats}");
        Assert.All(stats.Drop, d => Assert.True(d.Frames > 0, $"only reasons that dropped are listed: {stats}"));

        // A clear reading returns what it counted, and the next one starts from zero: no frame
        // with a multicast source was sent since.
        var cleared = Stats(api, clear: true);
        Assert.True(cleared.Packets >= stats.Packets, $"a clear returns the interval that ends: {stats} then {cleared}");
        var after = Stats(api, clear: false);
        Assert.Equal(0UL, Drop(after, "ethernet_source_multicast"));
        Assert.True(after.Packets < cleared.Packets, $"after a clear: {cleared} then {after}");
    }

    private static V0.PacketThreadStatsRes Stats(ApiClient api, bool clear)
    {
        var stats = ApiAssert.Ok(api.Call(new V0.Request { PacketThreadStats = new V0.PacketThreadStatsReq { Clear = clear } })).PacketThreadStats;
        Assert.NotNull(stats);
        return stats;
    }

    private static ulong Drop(V0.PacketThreadStatsRes stats, string reason) =>
        stats.Drop.Where(d => d.Reason == reason).Aggregate(0UL, (sum, d) => sum + d.Frames);

    /// <summary>Reads the statistics until <paramref name="done"/> holds (the thread may be asleep for a few ms).</summary>
    private static async Task<V0.PacketThreadStatsRes> Until(ApiClient api, Func<V0.PacketThreadStatsRes, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var stats = Stats(api, clear: false);
            if (done(stats))
            {
                return stats;
            }
            Assert.True(DateTime.UtcNow < deadline, $"statistics never got there: {stats}");
            await Task.Delay(50);
        }
    }

    private static void Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd() + stderr.GetAwaiter().GetResult();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: exit {p.ExitCode}: {output}");
    }
}
