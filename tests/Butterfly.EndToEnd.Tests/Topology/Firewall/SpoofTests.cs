using System.Diagnostics;
using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Topology.Firewall;

/// <summary>
/// A "VM" forging frames with scapy from inside its namespace (a1, with ip_anti_spoof): another
/// MAC, another IPv4 or IPv6 source, an ARP reply and a neighbour advertisement claiming a2's
/// address, a router advertisement, a DHCP offer. None of it reaches a2 (whose firewall admits
/// everything, so only anti-spoofing can stop them: a legitimate canary sent with them does
/// arrive), and a1's nic_stats count each drop by reason.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class SpoofTests(OneHostFirewallFabric fabric) : IClassFixture<OneHostFirewallFabric>
{
    private const string Forge = """
        import sys
        from scapy.all import ARP, BOOTP, DHCP, ICMPv6ND_NA, ICMPv6ND_RA, ICMPv6NDOptDstLLAddr, ICMPv6NDOptPrefixInfo, IP, IPv6, UDP, Ether, Raw, conf, sendp
        conf.verb = 0
        iface, mac, ip, ip6, ll, peer_mac, peer_ip, peer_ip6 = sys.argv[1:9]
        frames = [
            Ether(src="02:00:00:00:99:99", dst=peer_mac) / IP(src=ip, dst=peer_ip) / UDP(sport=4444, dport=4444) / Raw(b"spoof-mac"),
            Ether(src=mac, dst=peer_mac) / IP(src="10.79.0.99", dst=peer_ip) / UDP(sport=4444, dport=4444) / Raw(b"spoof-ipv4"),
            Ether(src=mac, dst=peer_mac) / IPv6(src="fd79::99", dst=peer_ip6) / UDP(sport=4444, dport=4444) / Raw(b"spoof-ipv6"),
            Ether(src=mac, dst=peer_mac) / ARP(op=2, hwsrc=mac, psrc=peer_ip, hwdst=peer_mac, pdst=peer_ip),
            Ether(src=mac, dst=peer_mac) / IPv6(src=ip6, dst=peer_ip6, hlim=255) / ICMPv6ND_NA(tgt=peer_ip6, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=mac),
            Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=ll, dst="ff02::1", hlim=255) / ICMPv6ND_RA() / ICMPv6NDOptPrefixInfo(prefix="2001:db8:66::", prefixlen=64),
            Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src=ip, dst="255.255.255.255") / UDP(sport=67, dport=68)
                / BOOTP(op=2, yiaddr=peer_ip, chaddr=bytes.fromhex(peer_mac.replace(":", ""))) / DHCP(options=[("message-type", "offer"), "end"]),
            Ether(src=mac, dst=peer_mac) / IP(src=ip, dst=peer_ip) / UDP(sport=4444, dport=4444) / Raw(b"legit-canary"),
        ]
        sendp(frames, iface=iface)
        print("sent", len(frames))
        """;

    [Fact]
    public async Task Forged_frames_never_reach_another_vm_and_each_drop_is_counted_by_reason()
    {
        fabric.Reset();
        var (a1, a2) = (fabric.A1, fabric.A2);
        fabric.OnAll(Requests.SgAddOpen());
        fabric.Groups(a2, Requests.OpenGroup);
        fabric.Call(a1, Requests.NicUpdate(new V0.NicUpdateReq { Id = a1.Tap, IpAntiSpoof = true }));
        var before = fabric.Stats(a1).Drop.ToDictionary(d => d.Reason, d => d.Frames);

        using var capture = await Capture.StartAsync(a2);
        var sent = NetworkNamespaces.Exec(a1.Namespace, "/usr/bin/python3", "-c", Forge, a1.Tap, a1.Mac, a1.Ipv4, a1.Ipv6,
            LinkLocalOf(a1.Mac), a2.Mac, a2.Ipv4, a2.Ipv6);
        Assert.True(sent.Ok, sent.Output);
        var seen = await capture.StopAsync(until: "legit-canary");

        Assert.Contains("legit-canary", seen, StringComparison.Ordinal);
        foreach (var forged in new[] { "spoof-mac", "spoof-ipv4", "spoof-ipv6", "Reply 10.79.0.2 is-at", "tgt is fd79::2", "router advertisement", "BOOTP/DHCP, Reply" })
        {
            Assert.DoesNotContain(forged, seen, StringComparison.Ordinal);
        }

        var after = fabric.Stats(a1).Drop.ToDictionary(d => d.Reason, d => d.Frames);
        ulong Delta(string reason) => after.GetValueOrDefault(reason) - before.GetValueOrDefault(reason);
        Assert.True(Delta("spoof_source_mac") >= 1, Describe(after));
        Assert.True(Delta("spoof_source_ip") >= 2, Describe(after));
        Assert.True(Delta("spoof_arp") >= 1, Describe(after));
        Assert.True(Delta("spoof_neighbour_discovery") >= 1, Describe(after));
        Assert.True(Delta("spoof_router_message") >= 1, Describe(after));
        Assert.True(Delta("spoof_dhcp_server") >= 1, Describe(after));
    }

    private static string Describe(Dictionary<string, ulong> drops) => string.Join(", ", drops.Select(d => $"{d.Key}={d.Value}"));

    /// <summary>fe80::/64 with the MAC as a modified EUI-64 interface id.</summary>
    private static string LinkLocalOf(string mac)
    {
        var b = mac.Split(':').Select(h => Convert.ToByte(h, 16)).ToArray();
        return $"fe80::{b[0] ^ 2:x2}{b[1]:x2}:{b[2]:x2}ff:fe{b[3]:x2}:{b[4]:x2}{b[5]:x2}";
    }

    /// <summary>tcpdump on a VM's interface, printing what arrives (ASCII payloads included).</summary>
    private sealed class Capture : IDisposable
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _output = new();

        private Capture(Process process) => _process = process;

        public static async Task<Capture> StartAsync(Vm vm)
        {
            var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in (string[])["netns", "exec", vm.Namespace, "tcpdump", "-i", vm.Tap, "-nn", "-l", "-A", "-U", "-v", "not tcp"])
            {
                psi.ArgumentList.Add(a);
            }
            var capture = new Capture(Process.Start(psi)!);
            capture._process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    lock (capture._output)
                    {
                        capture._output.AppendLine(e.Data);
                    }
                }
            };
            capture._process.BeginOutputReadLine();
            // tcpdump says "listening on" once its socket is bound.
            var ready = await capture._process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Contains("listening on", ready ?? "", StringComparison.Ordinal);
            return capture;
        }

        /// <summary>Waits for <paramref name="until"/> to show (at most 10 s) and a little more for stragglers, then stops.</summary>
        public async Task<string> StopAsync(string until)
        {
            for (var i = 0; i < 40 && !Text().Contains(until, StringComparison.Ordinal); i++)
            {
                await Task.Delay(250);
            }
            await Task.Delay(500);
            Reach.Stop(_process);
            return Text();
        }

        public void Dispose()
        {
            Reach.Stop(_process);
            _process.Dispose();
        }

        private string Text()
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }
}
