extern alias cli;

using System.Buffers;
using System.Text;
using Butterfly.Api.Zmq.Server;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Wire;
using Google.Protobuf;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Fuzz;

/// <summary>The starting corpus (fuzz/corpus/TARGET): a few valid inputs of each kind, written by <c>--write-seeds DIR</c>.</summary>
internal static class Seeds
{
    public static void Write(string directory)
    {
        var requests = new[]
        {
            Batch(new V0.Request { NicAdd = new V0.Nic { Id = "vm1", Mac = "52:54:00:00:00:01", Vni = 42, Ip = { "10.0.0.5", "2001:db8::5" }, SecurityGroup = { "web" } } }),
            Batch(new V0.Request { SgAdd = new V0.Sg { Id = "web", Member = { "10.0.0.5" }, Rule = { new V0.Rule { Direction = V0.Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 80, PortEnd = 80, Cidr = new V0.Cidr { Address = "0.0.0.0", MaskSize = 0 } } } } }),
            Batch(new V0.Request { NicList = true }, new V0.Request { SgDetails = "" }, new V0.Request { NicUpdate = new V0.NicUpdateReq { Id = "vm1", Ip = { "" } } }),
            Batch(new V0.Request { EventList = new V0.EventListReq { Limit = 5 } }, new V0.Request { StateAt = new V0.PointInTime { Sequence = 1 } }),
            Batch(new V0.Request { SgRuleAdd = new V0.SgRuleAddReq { SgId = "db", Rule = new V0.Rule { Direction = V0.Rule.Types.Direction.Outbound, Protocol = -1, SecurityGroup = "web" } } }),
        };
        var key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        for (var i = 0; i < requests.Length; i++)
        {
            var bytes = requests[i].ToByteArray();
            Save(directory, "api", i, bytes);
            Save(directory, "envelope", i, new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(bytes, key)) } }.ToByteArray());
            Save(directory, "textformat", i, Encoding.UTF8.GetBytes(cli::Butterfly.Cli.TextFormat.TextFormatPrinter.Print(cli::Butterfly.Wire.Messages.Parser.ParseFrom(bytes))));
        }
        var buffer = new ArrayBufferWriter<byte>();
        LogFormat.WriteEvents(buffer, [new NewEvent("NicAdded", "nic", "vm1", "{\"nic\":{\"id\":\"vm1\"}}", "tcp://127.0.0.1:9999 peer 01", "m1")], 1, DateTimeOffset.UnixEpoch);
        Save(directory, "logrecord", 0, buffer.WrittenSpan.ToArray());
        buffer.ResetWrittenCount();
        LogFormat.WriteLost(buffer, 7, 3, DateTimeOffset.UnixEpoch, "unreadable");
        Save(directory, "logrecord", 1, buffer.WrittenSpan.ToArray());
        buffer.ResetWrittenCount();
        LegacyLogFormat.WriteRecord(buffer, [new NewEvent("SgAdded", "sg", "web", "{}", "o", null)], 1, DateTimeOffset.UnixEpoch);
        Save(directory, "logrecord", 2, buffer.WrittenSpan[LegacyLogFormat.RecordHeaderSize..].ToArray());
    }

    private static Messages Batch(params V0.Request[] requests)
    {
        var messages = new Messages();
        for (var i = 0; i < requests.Length; i++)
        {
            messages.Messages_.Add(new Message { Revision = WireProtocol.Revision, Message0 = new MessageV0 { Request = requests[i], MessageId = $"m{i}" } });
        }
        return messages;
    }

    private static void Save(string directory, string target, int index, byte[] bytes)
    {
        Directory.CreateDirectory(Path.Combine(directory, target));
        File.WriteAllBytes(Path.Combine(directory, target, $"seed-{index}"), bytes);
    }
}
