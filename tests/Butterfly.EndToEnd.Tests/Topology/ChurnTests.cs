using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using static Butterfly.EndToEnd.Tests.Topology.Traffic;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>
/// Churn on a live fabric (issue 3): a NIC leaves and comes back while other VMs talk, and a
/// remote MAC learned by a host is forgotten once it has been silent longer than --fdb-ageing.
/// Outcomes only (what arrives where, how many echoes came back), no timing assertions: the
/// deadlines below only bound the waits.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed partial class ChurnTests(ChurnFabric fabric, ITestOutputHelper output) : IClassFixture<ChurnFabric>
{
    /// <summary>The fabric's daemons forget a remote MAC after this long without traffic from it.</summary>
    private const int AgeingSeconds = 3;

    private const int Datagrams = 20;

    /// <summary>One UDP datagram of 1000 bytes on the wire of a VM: Ethernet 14 + IPv4 20 + UDP 8 + 1000.</summary>
    private const int DatagramFrameBytes = 1042;

    private const int SinkPort = 5793;

    [Fact]
    public async Task A_nic_removed_and_added_again_under_traffic_is_unreachable_then_back_and_the_others_keep_working()
    {
        var (a1, a2, a3, x, y) = (fabric.A1, fabric.A2, fabric.A3, fabric.X, fabric.Y);
        AssertOk(PingEventually(a1, a3.Ipv4), "a1 → a3 before the churn");
        AssertOk(PingEventually(x, y.Ipv4), "x → y (VNI 711, through host B) before the churn");
        AssertOk(PingEventually(a1, a2.Ipv4), "a1 → a2 before the churn");
        // a1 addresses a2's MAC directly: no ARP, so a failed ping below means frames sent to
        // that MAC reached nobody who answers, not that a2's address could not be resolved.
        Pin(a1, a2);
        try
        {
            // a1 ↔ a3 crosses hosts A and C; x ↔ y crosses host B, whose packet thread is the
            // one removing and re-creating a2's port.
            using var acrossAc = BackgroundPing.Start(a1, a3.Ipv4);
            using var throughB = BackgroundPing.Start(x, y.Ipv4);

            fabric.RemoveNic(a2);
            Assert.False(Ping(a1, a2.Ipv4, count: 3).Ok, "a1 → a2 answered after a2's NIC was removed");
            AssertOk(PingEventually(x, y.Ipv4), "x → y on host B right after a2's NIC went away");

            fabric.AddNicAgain(a2, ThreeHostFabric.Vni);
            AssertOk(PingEventually(a1, a2.Ipv4), "a1 → a2 once a2's NIC is back");
            AssertOk(PingEventually(a2, a1.Ipv4), "a2 → a1 once a2's NIC is back");

            var (ac, xy) = (await acrossAc.StopAsync(), await throughB.StopAsync());
            output.WriteLine($"a1 → a3: {ac.Received}/{ac.Sent}, x → y: {xy.Received}/{xy.Sent} echoes answered");
            AssertAlmostNothingLost(ac, "background ping a1 → a3");
            AssertAlmostNothingLost(xy, "background ping x → y");
        }
        finally
        {
            Unpin(a1, a2);
        }
    }

    [Fact]
    public async Task A_learned_remote_mac_ages_out_after_silence_and_frames_to_it_are_flooded_again()
    {
        var (a1, a2, a3) = (fabric.A1, fabric.A2, fabric.A3);
        // a2 must stay silent once host A has learned it: no ARP either way (static entries),
        // and a sink that never answers, so the datagrams raise no ICMP port unreachable.
        Pin(a1, a2);
        Pin(a2, a1);
        // Nor router solicitations (there is no router): a NIC just (re)added sends three, 4 s
        // apart, which only makes the wait for silence below longer. Stops pending ones too.
        AssertOk(NetworkNamespaces.Exec(a2.Namespace, "sysctl", "-qw", $"net.ipv6.conf.{a2.Tap}.router_solicitations=0"), "no router solicitations from a2");
        using var sink = NetworkNamespaces.Start(a2.Namespace, "socat", "-u", $"UDP4-RECV:{SinkPort}", "GOPEN:/dev/null");
        try
        {
            Assert.True(await Eventually.TrueAsync(() => Listens(a2, SinkPort), TimeSpan.FromSeconds(10)), "the UDP sink in a2 never listened");

            // An exchange teaches host A where a2 is; within the ageing time, frames to a2's MAC
            // go to host B alone.
            AssertOk(PingEventually(a1, a2.Ipv4), "a1 → a2 (host A learns a2's MAC)");
            var learned = await SendDatagrams(a1, a2, a3);
            output.WriteLine($"learned: a2 got {learned.ToTarget} bytes, a3 {learned.ToBystander}");
            Assert.True(learned.ToTarget >= Datagrams * DatagramFrameBytes, $"a2 got {learned.ToTarget} bytes of the {Datagrams} datagrams sent to it");
            // Only the kernels' own small broadcasts and multicasts (ARP, ND, MLD) may reach
            // a3 meanwhile: far less than 5 of the datagrams.
            Assert.True(learned.ToBystander < 5 * DatagramFrameBytes, $"a3 got {learned.ToBystander} bytes while host A knew where a2 is: the datagrams were flooded");

            // The entry lives AgeingSeconds after a2's last frame; a2's In counter shows when
            // that was (a frame from a2 reaches host A within a millisecond).
            var waited = Stopwatch.StartNew();
            Assert.True(await Silent(a2, TimeSpan.FromSeconds(AgeingSeconds + 1), TimeSpan.FromSeconds(30)), "a2 never stayed silent long enough for its MAC to age out");
            output.WriteLine($"a2 silent for {AgeingSeconds + 1} s after {waited.Elapsed.TotalSeconds:F1} s");

            // Host A has forgotten a2: the same datagrams are unknown unicast, flooded to the
            // VNI's group, and host C hands them to a3 (whose kernel drops them).
            var aged = await SendDatagrams(a1, a2, a3);
            output.WriteLine($"aged: a2 got {aged.ToTarget} bytes, a3 {aged.ToBystander}, a2 sent {aged.FromTarget}");
            Assert.True(aged.ToBystander >= Datagrams * DatagramFrameBytes, $"a3 got {aged.ToBystander} bytes after a2's MAC should have aged out on host A: expected the {Datagrams} datagrams, flooded");
            Assert.Equal(0ul, aged.FromTarget);
        }
        finally
        {
            if (!sink.HasExited)
            {
                sink.Kill(entireProcessTree: true);
            }
            await sink.WaitForExitAsync();
            Unpin(a2, a1);
            Unpin(a1, a2);
        }
    }

    /// <summary>
    /// Up to 5 % lost: the echo in flight when ping is interrupted counts as lost, and this
    /// 2-core machine runs three packet threads besides the test, so a rare late reply is
    /// possible. A stalled packet thread or a wrong table during the churn loses far more
    /// (10 echoes a second).
    /// </summary>
    private static void AssertAlmostNothingLost((int Sent, int Received, string Output) ping, string what)
    {
        Assert.True(ping.Sent >= 15, $"{what}: only {ping.Sent} echoes sent during the churn\n{ping.Output}");
        Assert.True(ping.Received * 100 >= ping.Sent * 95, $"{what}: {ping.Received} of {ping.Sent} echoes answered\n{ping.Output}");
    }

    /// <summary>
    /// Sends <see cref="Datagrams"/> UDP datagrams of 1000 bytes from <paramref name="source"/>
    /// to <paramref name="target"/>'s sink; returns the bytes the switch handed to the target
    /// and to <paramref name="bystander"/>, and the bytes the target sent, meanwhile.
    /// </summary>
    private async Task<(ulong ToTarget, ulong ToBystander, ulong FromTarget)> SendDatagrams(Vm source, Vm target, Vm bystander)
    {
        var (targetBefore, bystanderBefore) = (fabric.Stats(target), fabric.Stats(bystander));
        AssertOk(NetworkNamespaces.Exec(source.Namespace, "/usr/bin/python3", "-c",
            "import socket, sys\n" +
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" +
            "for _ in range(int(sys.argv[3])): s.sendto(b'b' * 1000, (sys.argv[1], int(sys.argv[2])))\n",
            target.Ipv4, SinkPort.ToString(CultureInfo.InvariantCulture), Datagrams.ToString(CultureInfo.InvariantCulture)),
            $"send {Datagrams} datagrams from {source.Name} to {target.Name}");
        // Wait for the datagrams to come out at the target; frames flooded to the bystander
        // leave host A at the same moment, so they are out by then too (a short grace on top).
        _ = await Eventually.TrueAsync(() => fabric.Stats(target).Out - targetBefore.Out >= Datagrams * DatagramFrameBytes, TimeSpan.FromSeconds(5));
        await Task.Delay(300);
        var (targetAfter, bystanderAfter) = (fabric.Stats(target), fabric.Stats(bystander));
        return (targetAfter.Out - targetBefore.Out, bystanderAfter.Out - bystanderBefore.Out, targetAfter.In - targetBefore.In);
    }

    /// <summary>Waits (at most <paramref name="within"/>) until <paramref name="vm"/> has sent nothing for <paramref name="quiet"/>.</summary>
    private async Task<bool> Silent(Vm vm, TimeSpan quiet, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        var last = fabric.Stats(vm).In;
        var since = Stopwatch.StartNew();
        while (deadline.Elapsed < within)
        {
            await Task.Delay(200);
            var now = fabric.Stats(vm).In;
            if (now != last)
            {
                (last, since) = (now, Stopwatch.StartNew());
            }
            else if (since.Elapsed >= quiet)
            {
                return true;
            }
        }
        return false;
    }

    private static bool Listens(Vm vm, int port) =>
        NetworkNamespaces.Exec(vm.Namespace, "ss", "-Hlun", "sport", "=", $":{port}").Output.Trim().Length > 0;

    /// <summary>A permanent neighbour entry for <paramref name="to"/> in <paramref name="from"/>: frames go to its MAC, no ARP.</summary>
    private static void Pin(Vm from, Vm to) =>
        AssertOk(NetworkNamespaces.Exec(from.Namespace, "ip", "neigh", "replace", to.Ipv4, "lladdr", to.Mac, "dev", from.Tap, "nud", "permanent"),
            $"static neighbour {to.Name} in {from.Name}");

    /// <summary>Removes that entry; a NIC removed and added again came back without it, hence no check.</summary>
    private static void Unpin(Vm from, Vm to) =>
        _ = NetworkNamespaces.Exec(from.Namespace, "ip", "neigh", "del", to.Ipv4, "dev", from.Tap);

    /// <summary>
    /// A ping at 10 echoes a second running until stopped: stopped with SIGINT (ip netns exec
    /// execs ping, so the process is ping itself), which makes ping print its summary.
    /// </summary>
    private sealed partial class BackgroundPing : IDisposable
    {
        private readonly Process _ping;

        private BackgroundPing(Process ping) => _ping = ping;

        /// <summary>-q: only the summary; -w 120: never outlives a test that lost track of it.</summary>
        public static BackgroundPing Start(Vm source, string target) =>
            new(NetworkNamespaces.Start(source.Namespace, "ping", "-q", "-i", "0.1", "-w", "120", target));

        public async Task<(int Sent, int Received, string Output)> StopAsync()
        {
            var output = _ping.StandardOutput.ReadToEndAsync();
            var error = _ping.StandardError.ReadToEndAsync();
            _ = NetworkNamespaces.Run("kill", "-INT", _ping.Id.ToString(CultureInfo.InvariantCulture));
            await _ping.WaitForExitAsync();
            var text = await output + await error;
            var summary = Summary().Match(text);
            Assert.True(summary.Success, $"no ping summary in: {text}");
            return (int.Parse(summary.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(summary.Groups[2].Value, CultureInfo.InvariantCulture), text);
        }

        public void Dispose()
        {
            if (!_ping.HasExited)
            {
                _ping.Kill();
                _ping.WaitForExit();
            }
            _ping.Dispose();
        }

        [GeneratedRegex(@"(\d+) packets transmitted, (\d+) received")]
        private static partial Regex Summary();
    }
}

/// <summary>The three-host multicast fabric with a 3-second FDB ageing, so the ageing test waits seconds, not minutes.</summary>
public sealed class ChurnFabric() : ThreeHostFabric(FabricKind.Multicast, ipv6: false, "--fdb-ageing", "3");
