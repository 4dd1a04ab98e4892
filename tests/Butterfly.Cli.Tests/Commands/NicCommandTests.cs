using Butterfly.Cli.Tests.Support;
using Butterfly.Wire;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.Commands;

public class NicCommandTests
{
    [Fact]
    public void List_prints_one_id_per_line()
    {
        var r = Client.Run(Client.Ok((_, res) => res.NicList.AddRange(["a", "b"])), "nic", "list");
        Assert.Equal(0, r.Code);
        Assert.Equal("a\nb\n", r.Out);
        Assert.True(r.Sent.Single().NicList);
        Assert.Equal(6u, r.Requests[0].Messages_[0].Revision);
    }

    [Fact]
    public void Details_prints_the_original_lines()
    {
        var nic = new Nic { Id = "n1", Mac = "52:54:00:00:00:01", Vni = 42, Ip = { "10.0.0.1", "::1" }, IpAntiSpoof = true, BypassFiltering = false, PacketTrace = true, SecurityGroup = { "g" } };
        var r = Client.Run(Client.Ok((_, res) => res.NicDetails.Add(nic)), "nic", "details", "n1");
        Assert.Equal(0, r.Code);
        Assert.Equal("id: n1\nmac: 52:54:00:00:00:01\nvni: 42\nip: 10.0.0.1\nip: ::1\nantispoof: true\nbypass filtering: false\npacket trace: true\n", r.Out);
        Assert.Equal("n1", r.Sent.Single().NicDetails);
    }

    [Fact]
    public void Details_end_with_the_port_error_when_the_port_does_not_work()
    {
        var nic = new Nic { Id = "n1", Mac = "52:54:00:00:00:01", Vni = 42, PortError = "NIC 'n1': '/run/x' exists and is not a socket" };
        var r = Client.Run(Client.Ok((_, res) => res.NicDetails.Add(nic)), "nic", "details", "n1");
        Assert.Equal(0, r.Code);
        Assert.Equal("id: n1\nmac: 52:54:00:00:00:01\nvni: 42\nport error: NIC 'n1': '/run/x' exists and is not a socket\n", r.Out);
    }

    [Fact]
    public void Details_without_nic_in_reply_fails()
    {
        var r = Client.Run("nic", "details", "n1");
        Assert.Equal(1, r.Code);
        Assert.Equal("no nic details received\n", r.Err);
    }

    [Fact]
    public void Stats_prints_in_and_out()
    {
        var r = Client.Run(Client.Ok((_, res) => res.NicStats = new NicStats { In = 12, Out = 34 }), "nic", "stats", "n1");
        Assert.Equal("in: 12\nout: 34\n", r.Out);
        Assert.Equal("n1", r.Sent.Single().NicStats);
    }

    [Fact]
    public void Add_sends_every_option_and_prints_the_path()
    {
        var r = Client.Run(Client.Ok((_, res) => res.NicAdd = new NicAddRes { Path = "/tmp/sock" }),
            "nic", "add", "--id", "n1", "--mac", "52:54:00:00:00:01", "--vni", "16777215", "--ip", "10.0.0.1", "--ip", "::1",
            "--sg", "a", "--sg", "b", "--enable-antispoof", "--bypass-filtering", "--packet-trace", "true", "--trace-path", "/tmp/p.pcap", "--type", "tap");
        Assert.Equal(0, r.Code);
        Assert.Equal("/tmp/sock\n", r.Out);
        var nic = r.Sent.Single().NicAdd;
        Assert.Equal(new Nic
        {
            Id = "n1",
            Mac = "52:54:00:00:00:01",
            Vni = 16777215,
            Ip = { "10.0.0.1", "::1" },
            SecurityGroup = { "a", "b" },
            IpAntiSpoof = true,
            BypassFiltering = true,
            PacketTrace = true,
            PacketTracePath = "/tmp/p.pcap",
            Type = Nic.Types.Type.Tap,
        }, nic);
    }

    [Fact]
    public void Stats_print_a_bench_nic_probe_and_with_all_the_capture()
    {
        var stats = new NicStats
        {
            In = 980,
            Out = 980,
            Bench = new BenchStats { Btype = "ICMP_SND_LIKE", Sent = 10, Received = 9, RttMinUs = 81.26, RttMeanUs = 140.5, RttMaxUs = 990, RttP99Us = 960.04 },
            Trace = new TraceStats { Path = "/tmp/b.pcap", Frames = 19, Bytes = 3000, Dropped = 0, Rotations = 0 },
        };
        var plain = Client.Run(Client.Ok((_, res) => res.NicStats = stats), "nic", "stats", "b");
        var all = Client.Run(Client.Ok((_, res) => res.NicStats = stats), "nic", "stats", "b", "--all");

        Assert.Equal("in: 980\nout: 980\nbench type: ICMP_SND_LIKE\nbench sent: 10\nbench received: 9\nbench rtt min: 81.3 us\n"
            + "bench rtt mean: 140.5 us\nbench rtt max: 990.0 us\nbench rtt p99: 960.0 us\n", plain.Out);
        Assert.EndsWith("trace file: /tmp/b.pcap\ntrace frames: 19\ntrace bytes: 3000\ntrace dropped: 0\ntrace rotations: 0\n", all.Out, StringComparison.Ordinal);
    }

    [Fact]
    public void Capture_refuses_a_nic_that_is_not_traced()
    {
        var r = Client.Run(Client.Ok((_, res) => res.NicDetails.Add(new Nic { Id = "n", Mac = "m", Vni = 1, PacketTrace = false, PacketTracePath = "/tmp/butterfly-n.pcap" })),
            "nic", "capture", "n");

        Assert.Equal(1, r.Code);
        Assert.Contains("NIC 'n' is not traced", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Add_sets_the_original_defaults_and_bench_fields()
    {
        var r = Client.Run(Client.Ok((_, res) => res.NicAdd = new NicAddRes { Path = "b" }),
            "nic", "add", "--id", "n", "--mac", "m", "--vni", "0", "--type", "BENCH", "--btype", "ICMP_RCV_LIKE", "--dip", "1.2.3.4", "--dmac", "52:54:00:00:00:09", "--enable-antispoof", "false");
        var nic = r.Sent.Single().NicAdd;
        Assert.True(nic.HasIpAntiSpoof && !nic.IpAntiSpoof);
        Assert.True(nic.HasBypassFiltering && !nic.BypassFiltering);
        Assert.False(nic.HasPacketTrace);
        Assert.Equal(Nic.Types.Type.Bench, nic.Type);
        Assert.Equal(("ICMP_RCV_LIKE", "1.2.3.4", "52:54:00:00:00:09"), (nic.Btype, nic.Dip, nic.Dmac));
    }

    [Fact]
    public void Add_without_path_in_reply_fails()
    {
        var r = Client.Run("nic", "add", "--id", "n", "--mac", "m", "--vni", "1");
        Assert.Equal(1, r.Code);
        Assert.Equal("no nic add result received\n", r.Err);
    }

    [Fact]
    public void Update_with_ip_dash_e_clears_the_ips()
    {
        var r = Client.Run("nic", "update", "--id", "n", "--ip", "-e");
        Assert.Equal(0, r.Code);
        Assert.Equal(new NicUpdateReq { Id = "n", Ip = { "" } }, r.Sent.Single().NicUpdate);
    }

    [Fact]
    public void Update_sends_only_what_is_given()
    {
        var r = Client.Run("nic", "update", "--id", "n", "--ip", "1.2.3.4", "--ip", "::2", "--enable-antispoof", "false", "--packet-trace", "true", "--trace-path", "/t");
        Assert.Equal(new NicUpdateReq { Id = "n", Ip = { "1.2.3.4", "::2" }, IpAntiSpoof = false, PacketTrace = true, PacketTracePath = "/t" }, r.Sent.Single().NicUpdate);
        var bare = Client.Run("nic", "update", "--id", "n");
        Assert.Equal(new NicUpdateReq { Id = "n" }, bare.Sent.Single().NicUpdate);
    }

    [Fact]
    public void Del_sends_one_message_per_nic_in_one_exchange()
    {
        var r = Client.Run("nic", "del", "a", "b", "c");
        Assert.Equal(0, r.Code);
        Assert.Single(r.Requests);
        Assert.Equal(["a", "b", "c"], r.Sent.Select(s => s.NicDel));
    }

    [Fact]
    public void Del_fails_if_any_reply_fails()
    {
        var r = Client.Run(request =>
        {
            var reply = Client.Ok()(request);
            reply.Messages_[1].Message0.Response.Status = new Status { Status_ = false, Error = new MessageV0.Types.Error { Description = "nope" } };
            return reply;
        }, "nic", "del", "a", "b");
        Assert.Equal(1, r.Code);
        Assert.Equal("error in response\ndescription: nope\n", r.Err);
    }
}
