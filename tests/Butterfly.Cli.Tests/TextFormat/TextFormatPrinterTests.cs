using Butterfly.Cli.Tests.Support;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;
using Google.Protobuf;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.TextFormat;

/// <summary>The printer must be byte-identical to C++ TextFormat::Print, here protoc --decode.</summary>
public class TextFormatPrinterTests
{
    public static TheoryData<string> SampleNames => ["nic_add", "response", "empty", "rules"];

    private static Messages Sample(string name) => name switch
    {
        "nic_add" => Samples.NicAdd(),
        "response" => Samples.Response(),
        "empty" => new Messages(),
        _ => Samples.Wrap(new MessageV0.Types.Request { SgAdd = new Sg { Id = "g", Member = { "10.0.0.1" }, Rule = { new Rule { Direction = Rule.Types.Direction.Inbound, Protocol = 17, PortStart = 0, PortEnd = 65535, Cidr = new Cidr { Address = "::", MaskSize = 0 } } } } }),
    };

    [Theory]
    [MemberData(nameof(SampleNames))]
    public void Prints_like_protoc(string name)
    {
        var message = Sample(name);
        var expected = Protoc.Decode("proto.Messages", message.ToByteArray());
        Assert.Equal(expected, TextFormatPrinter.Print(message));
    }

    [Fact]
    public void Prints_a_rule_alone_like_protoc()
    {
        var rule = new Rule { Direction = Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 22, PortEnd = 22, Cidr = new Cidr { Address = "0.0.0.0", MaskSize = 0 } };
        var expected = Protoc.Decode("MessageV0.Rule", rule.ToByteArray(), file: "message_0.proto");
        Assert.Equal(expected, TextFormatPrinter.Print(rule));
        Assert.Equal("direction: INBOUND\nprotocol: 6\nport_start: 22\nport_end: 22\ncidr {\n  address: \"0.0.0.0\"\n  mask_size: 0\n}\n", TextFormatPrinter.Print(rule));
    }

    [Fact]
    public void Escapes_strings_like_CEscape()
    {
        var nic = new Nic { Id = "a\"b\n\t\\'é\u0001", Mac = "m", Vni = 1 };
        Assert.Equal("id: \"a\\\"b\\n\\t\\\\\\'\\303\\251\\001\"\nmac: \"m\"\nvni: 1\n", TextFormatPrinter.Print(nic));
    }

    [Fact]
    public void Prints_unknown_fields_like_protoc()
    {
        // A newer daemon may send fields this client does not know: varint, fixed32,
        // fixed64, a string, an embedded message and a group, after the known ones.
        var known = Samples.Wrap(new Request { NicList = true });
        var extra = new MemoryStream();
        var output = new CodedOutputStream(extra);
        output.WriteTag(90, WireFormat.WireType.Varint);
        output.WriteUInt64(ulong.MaxValue);
        output.WriteTag(91, WireFormat.WireType.Fixed32);
        output.WriteFixed32(0xdeadbeef);
        output.WriteTag(92, WireFormat.WireType.Fixed64);
        output.WriteFixed64(0x0123456789abcdef);
        output.WriteTag(93, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFromUtf8("abc\n"));
        output.WriteTag(94, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(0x08, 0x96, 0x01, 0x12, 0x01, 0x78));
        output.WriteTag(95, WireFormat.WireType.StartGroup);
        output.WriteTag(1, WireFormat.WireType.Varint);
        output.WriteInt32(7);
        output.WriteTag(95, WireFormat.WireType.EndGroup);
        output.WriteTag(96, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.Empty);
        output.Flush();
        var bytes = known.ToByteArray().Concat(extra.ToArray()).ToArray();

        var parsed = Messages.Parser.ParseFrom(bytes);
        var expected = Protoc.Decode("proto.Messages", bytes);
        Assert.Contains("90: 18446744073709551615", expected, StringComparison.Ordinal);
        Assert.Equal(expected, TextFormatPrinter.Print(parsed));
    }
}
