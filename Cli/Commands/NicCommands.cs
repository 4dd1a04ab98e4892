using System.Globalization;
using Butterfly.Cli.CommandLine;
using Butterfly.Wire;
using Nic = Butterfly.Wire.MessageV0.Types.Nic;
using Request = Butterfly.Wire.MessageV0.Types.Request;

namespace Butterfly.Cli.Commands;

/// <summary><c>butterfly nic …</c>: list, details, stats, add, update, del, and <c>nic sg</c>.</summary>
internal static class NicCommands
{
    private const uint MaxVni = (1u << 24) - 1;

    public static ICliCommand Parse(ArgScanner s)
    {
        var sub = Words.SubCommand(s, "nic");
        return sub switch
        {
            "list" => List(s),
            "details" => Details(s),
            "stats" => Stats(s),
            "export" => Export(s),
            "capture" => Capture(s),
            "add" => Add(s),
            "update" => Update(s),
            "del" => Del(s),
            "sg" => NicSgCommands.Parse(s),
            "help" => new UsageCommand("nic"),
            _ => throw Words.InvalidSubCommand(s, "nic", sub),
        };
    }

    private static ICliCommand List(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic list", out var usage))
            return usage;
        s.End();
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(new Request { NicList = true }));
            if (reply is null)
                return 1;
            foreach (var id in Requests.Response(reply).NicList)
                ctx.Out.WriteLine(id);
            return 0;
        });
    }

    private static ICliCommand Details(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic details", out var usage))
            return usage;
        var id = s.Required("NIC");
        s.End();
        return new RunCommand(ctx =>
        {
            var nic = Fetch(ctx, id);
            if (nic is null)
                return 1;
            // Same lines, in the same order, as the original client.
            ctx.Out.WriteLine("id: " + nic.Id);
            ctx.Out.WriteLine("mac: " + nic.Mac);
            ctx.Out.WriteLine("vni: " + nic.Vni.ToString(CultureInfo.InvariantCulture));
            foreach (var ip in nic.Ip)
                ctx.Out.WriteLine("ip: " + ip);
            if (nic.HasIpAntiSpoof)
                ctx.Out.WriteLine("antispoof: " + Bool(nic.IpAntiSpoof));
            if (nic.HasSniffTargetNicId)
                ctx.Out.WriteLine("sniff target: " + nic.SniffTargetNicId);
            if (nic.HasBypassFiltering)
                ctx.Out.WriteLine("bypass filtering: " + Bool(nic.BypassFiltering));
            if (nic.HasPacketTrace)
                ctx.Out.WriteLine("packet trace: " + Bool(nic.PacketTrace));
            // Only when the port is not working (protocol revision 10).
            if (nic.HasPortError)
                ctx.Out.WriteLine("port error: " + nic.PortError);
            return 0;
        });
    }

    private static ICliCommand Stats(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic stats", out var usage))
            return usage;
        var id = s.Required("NIC");
        var all = false;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--all" or "-a": all = true; break;
                default: throw s.Unexpected(word);
            }
        }
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(new Request { NicStats = id }));
            if (reply is null)
                return 1;
            var stats = Requests.Response(reply).NicStats;
            if (stats is null)
            {
                ctx.Err.WriteLine("no nic stats received");
                return 1;
            }
            // The original client's two lines, unchanged; a BENCH NIC's probe after them (revision
            // 11: only BENCH NICs have one); with --all the revision 9 figures and the capture's.
            ctx.Out.WriteLine("in: " + stats.In.ToString(CultureInfo.InvariantCulture));
            ctx.Out.WriteLine("out: " + stats.Out.ToString(CultureInfo.InvariantCulture));
            if (stats.Bench is { } bench)
                PrintBench(ctx.Out, bench);
            if (!all)
                return 0;
            if (stats.HasPacketsIn)
                ctx.Out.WriteLine("packets in: " + stats.PacketsIn.ToString(CultureInfo.InvariantCulture));
            if (stats.HasPacketsOut)
                ctx.Out.WriteLine("packets out: " + stats.PacketsOut.ToString(CultureInfo.InvariantCulture));
            if (stats.HasDrops)
                ctx.Out.WriteLine("drops: " + stats.Drops.ToString(CultureInfo.InvariantCulture));
            foreach (var drop in stats.Drop)
                ctx.Out.WriteLine($"drop {drop.Reason}: {drop.Frames.ToString(CultureInfo.InvariantCulture)}");
            if (stats.Trace is { } trace)
                PrintTrace(ctx.Out, trace);
            return 0;
        });
    }

    private static void PrintBench(TextWriter o, MessageV0.Types.BenchStats bench)
    {
        o.WriteLine("bench type: " + bench.Btype);
        o.WriteLine("bench sent: " + bench.Sent.ToString(CultureInfo.InvariantCulture));
        o.WriteLine("bench received: " + bench.Received.ToString(CultureInfo.InvariantCulture));
        if (bench.HasRttMinUs)
            o.WriteLine("bench rtt min: " + Micros(bench.RttMinUs));
        if (bench.HasRttMeanUs)
            o.WriteLine("bench rtt mean: " + Micros(bench.RttMeanUs));
        if (bench.HasRttMaxUs)
            o.WriteLine("bench rtt max: " + Micros(bench.RttMaxUs));
        if (bench.HasRttP99Us)
            o.WriteLine("bench rtt p99: " + Micros(bench.RttP99Us));
    }

    private static void PrintTrace(TextWriter o, MessageV0.Types.TraceStats trace)
    {
        o.WriteLine("trace file: " + trace.Path);
        o.WriteLine("trace frames: " + trace.Frames.ToString(CultureInfo.InvariantCulture));
        o.WriteLine("trace bytes: " + trace.Bytes.ToString(CultureInfo.InvariantCulture));
        o.WriteLine("trace dropped: " + trace.Dropped.ToString(CultureInfo.InvariantCulture));
        o.WriteLine("trace rotations: " + trace.Rotations.ToString(CultureInfo.InvariantCulture));
        if (trace.HasError)
            o.WriteLine("trace error: " + trace.Error);
    }

    private static string Micros(double us) => us.ToString("0.0", CultureInfo.InvariantCulture) + " us";

    /// <summary><c>nic export NIC [--output FILE]</c>: the NIC's tracked sessions (a binary document; stdout by default).</summary>
    private static ICliCommand Export(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic export", out var usage))
            return usage;
        var id = s.Required("NIC");
        string? output = null;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--output" or "-o": output = s.Value(word); break;
                default: throw s.Unexpected(word);
            }
        }
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(new Request { NicExport = id }));
            if (reply is null)
                return 1;
            var data = Requests.Response(reply).NicExport?.FwData?.Data;
            if (data is null)
            {
                ctx.Err.WriteLine("no nic export received");
                return 1;
            }
            if (output is null)
            {
                using var stdout = Console.OpenStandardOutput();
                data.WriteTo(stdout);
            }
            else
            {
                File.WriteAllBytes(output, data.ToByteArray());
            }
            return 0;
        });
    }

    /// <summary>
    /// <c>nic capture NIC [--from-start] [--refused] [--count N] [--output FILE]</c>: the NIC's
    /// capture as a pcapng stream on stdout (or FILE), for <c>| tcpdump -r -</c>, read from the
    /// file the daemon writes (<see cref="Capture.CaptureFollower"/>; the daemon's host only).
    /// </summary>
    private static ICliCommand Capture(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic capture", out var usage))
            return usage;
        var id = s.Required("NIC");
        var fromStart = false;
        var refused = false;
        long? count = null;
        string? output = null;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--from-start": fromStart = true; break;
                case "--refused": refused = true; break;
                case "--count" or "-c": count = Words.UInt(s, word, uint.MaxValue, "a number of frames"); break;
                case "--output" or "-o": output = s.Value(word); break;
                default: throw s.Unexpected(word);
            }
        }
        if (count == 0)
            throw s.Error("--count must be at least 1");
        return new RunCommand(ctx =>
        {
            var nic = Fetch(ctx, id);
            if (nic is null)
                return 1;
            if (!nic.PacketTrace)
            {
                ctx.Err.WriteLine($"nic capture: NIC '{id}' is not traced; turn tracing on first: butterfly nic update --id {id} --packet-trace true");
                return 1;
            }
            using var stream = output is null ? Console.OpenStandardOutput() : File.Create(output);
            var follower = new Capture.CaptureFollower(nic.PacketTracePath, stream,
                new Capture.FollowOptions(fromStart, refused, count, TimeSpan.FromMilliseconds(50)),
                () => Fetch(ctx, id) is { PacketTrace: true } now && now.PacketTracePath == nic.PacketTracePath, ctx.Err);
            return follower.Run();
        });
    }

    /// <summary>The fw_data of <c>--fw-data FILE</c>: a document written by <c>nic export</c>.</summary>
    private static MessageV0.Types.FwData FwData(ArgScanner s, string path)
    {
        try
        {
            return new MessageV0.Types.FwData { Data = Google.Protobuf.ByteString.CopyFrom(File.ReadAllBytes(path)) };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw s.Error($"--fw-data: cannot read '{path}': {e.Message}");
        }
    }

    private static ICliCommand Add(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic add", out var usage))
            return usage;
        var nic = new Nic { IpAntiSpoof = false, BypassFiltering = false, Type = Nic.Types.Type.VhostUserServer };
        bool? packetTrace = null;
        string? tracePath = null;
        bool hasVni = false;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--id": nic.Id = s.Value(word); break;
                case "--mac": nic.Mac = s.Value(word); break;
                case "--vni": nic.Vni = Words.UInt(s, word, MaxVni, "a VNI"); hasVni = true; break;
                case "--ip": nic.Ip.Add(s.Value(word)); break;
                case "--sg": nic.SecurityGroup.Add(s.Value(word)); break;
                case "--enable-antispoof": nic.IpAntiSpoof = Words.OptionalBool(s); break;
                case "--bypass-filtering": nic.BypassFiltering = Words.OptionalBool(s); break;
                case "--packet-trace": packetTrace = Words.Bool(s, word); break;
                case "--trace-path": tracePath = s.Value(word); break;
                case "--type": nic.Type = NicType(s, s.Value(word)); break;
                case "--btype": nic.Btype = BenchType(s, s.Value(word)); break;
                case "--dip": nic.Dip = s.Value(word); break;
                case "--dmac": nic.Dmac = s.Value(word); break;
                case "--fw-data": nic.FwData = FwData(s, s.Value(word)); break;
                default: throw s.Unexpected(word);
            }
        }
        if (!nic.HasId || nic.Id.Length == 0)
            throw s.Error("missing --id");
        if (!nic.HasMac || nic.Mac.Length == 0)
            throw s.Error("missing --mac");
        if (!hasVni)
            throw s.Error("missing --vni");
        CheckTrace(s, packetTrace, tracePath);
        if (packetTrace is { } pt)
            nic.PacketTrace = pt;
        if (tracePath is not null)
            nic.PacketTracePath = tracePath;
        if (nic.Type != Nic.Types.Type.Bench && (nic.HasBtype || nic.HasDip || nic.HasDmac))
            throw s.Error("--btype, --dip and --dmac are only for --type BENCH");

        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(new Request { NicAdd = nic }));
            if (reply is null)
                return 1;
            var added = Requests.Response(reply).NicAdd;
            if (added is null || !added.HasPath)
            {
                ctx.Err.WriteLine("no nic add result received");
                return 1;
            }
            ctx.Out.WriteLine(added.Path);
            return 0;
        });
    }

    private static ICliCommand Update(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic update", out var usage))
            return usage;
        var update = new MessageV0.Types.NicUpdateReq();
        bool? packetTrace = null;
        string? tracePath = null;
        var clearIps = false;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--id": update.Id = s.Value(word); break;
                case "--ip":
                    var ip = s.Value(word);
                    // "--ip -e" is the original client's way of saying "no IP at all".
                    if (ip == "-e")
                        clearIps = true;
                    else
                        update.Ip.Add(ip);
                    break;
                case "--enable-antispoof": update.IpAntiSpoof = Words.Bool(s, word); break;
                case "--bypass-filtering": update.BypassFiltering = Words.Bool(s, word); break;
                case "--fw-data": update.FwData = FwData(s, s.Value(word)); break;
                case "--packet-trace": packetTrace = Words.Bool(s, word); break;
                case "--trace-path": tracePath = s.Value(word); break;
                default: throw s.Unexpected(word);
            }
        }
        if (!update.HasId || update.Id.Length == 0)
            throw s.Error("missing --id");
        if (clearIps && update.Ip.Count > 0)
            throw s.Error("--ip -e clears the IPs and cannot be combined with other --ip");
        if (clearIps)
            update.Ip.Add("");
        CheckTrace(s, packetTrace, tracePath);
        if (packetTrace is { } pt)
            update.PacketTrace = pt;
        if (tracePath is not null)
            update.PacketTracePath = tracePath;
        return new RunCommand(ctx => ctx.Api.Call(Requests.Of(new Request { NicUpdate = update })) is null ? 1 : 0);
    }

    private static ICliCommand Del(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic del", out var usage))
            return usage;
        var ids = Words.Positionals(s, "NIC", 1);
        var requests = ids.Select(id => new Request { NicDel = id });
        return new RunCommand(ctx => ctx.Api.Call(Requests.Of(requests, null)) is null ? 1 : 0);
    }

    /// <summary>One NIC by id through nic_details; null after reporting on stderr.</summary>
    public static Nic? Fetch(CliContext ctx, string id)
    {
        var reply = ctx.Api.Call(Requests.Of(new Request { NicDetails = id }));
        if (reply is null)
            return null;
        var details = Requests.Response(reply).NicDetails;
        var nic = details.FirstOrDefault(n => n.Id == id) ?? details.FirstOrDefault();
        if (nic is null)
            ctx.Err.WriteLine("no nic details received");
        return nic;
    }

    private static void CheckTrace(ArgScanner s, bool? packetTrace, string? tracePath)
    {
        if (tracePath is not null && packetTrace != true)
            throw s.Error("--trace-path needs --packet-trace true");
    }

    private static Nic.Types.Type NicType(ArgScanner s, string text) => text.ToUpperInvariant() switch
    {
        "VHOST_USER_SERVER" => Nic.Types.Type.VhostUserServer,
        "TAP" => Nic.Types.Type.Tap,
        "BENCH" => Nic.Types.Type.Bench,
        _ => throw s.Error($"--type must be VHOST_USER_SERVER, TAP or BENCH, not '{text}'"),
    };

    private static string BenchType(ArgScanner s, string text) => text.ToUpperInvariant() switch
    {
        "ICMP_SND_LIKE" or "ICMP_RCV_LIKE" => text.ToUpperInvariant(),
        _ => throw s.Error($"--btype must be ICMP_SND_LIKE or ICMP_RCV_LIKE, not '{text}'"),
    };

    private static string Bool(bool b) => b ? "true" : "false";
}
