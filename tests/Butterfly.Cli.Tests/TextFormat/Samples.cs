using Butterfly.Wire;
using Google.Protobuf;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.TextFormat;

/// <summary>Messages that exercise every kind of field of the wire schema.</summary>
internal static class Samples
{
    public static Messages NicAdd() => Wrap(new Request
    {
        NicAdd = new Nic
        {
            Id = "vm-1 \"quoted\" \\ tab\t nl\n 'single' é ✓ \u0001 \u007f",
            Mac = "52:54:00:00:d7:11",
            Vni = 16777215,
            Ip = { "10.0.0.1", "2001:db8::1" },
            SecurityGroup = { "sg-1", "" },
            IpAntiSpoof = false,
            BypassFiltering = true,
            Type = Nic.Types.Type.Tap,
            Path = "/tmp/x",
            PacketTrace = false,
            PacketTracePath = "/tmp/t.pcap",
            Btype = "ICMP_SND_LIKE",
            Dip = "10.0.0.2",
            Dmac = "52:54:00:00:00:02",
        },
    }, "id-1");

    public static Messages Response() => new()
    {
        Messages_ =
        {
            new Message
            {
                Revision = 6,
                Message0 = new MessageV0
                {
                    MessageId = "m",
                    Response = new Response
                    {
                        Status = new Status { Status_ = false, Error = new MessageV0.Types.Error { Description = "bad \"mac\"", ErrNo = -22, Line = ulong.MaxValue, CursPos = 3 } },
                        SgRuleList =
                        {
                            new Rule { Direction = Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 22, PortEnd = 22, Cidr = new Cidr { Address = "0.0.0.0", MaskSize = 0 } },
                            new Rule { Direction = Rule.Types.Direction.Outbound, Protocol = -1, SecurityGroup = "sg-2" },
                        },
                        NicStats = new NicStats { In = 0, Out = 123456789012345 },
                        NicExport = new NicExportRes { FwData = new FwData { Data = ByteString.CopyFrom(0, 1, 2, 0x7f, 0x80, 0xff, (byte)'a', (byte)'"') } },
                        AppStatus = new AppStatusRes(),
                        EventList = new EventListRes { Event = { new Event { Sequence = 1, UnixMs = 1764151200000, Type = "NicAdded", DataJson = "{\"id\":\"a\"}" } }, NextAfterSequence = 1 },
                    },
                },
            },
            new Message { Revision = 6, Error = new global::Butterfly.Wire.Error { Code = global::Butterfly.Wire.Error.Types.Code.Rejected } },
        },
    };

    public static Messages Wrap(Request request, string? messageId = null)
    {
        var m0 = new MessageV0 { Request = request };
        if (messageId is not null)
            m0.MessageId = messageId;
        return new Messages { Messages_ = { new Message { Revision = 6, Message0 = m0 } } };
    }
}
