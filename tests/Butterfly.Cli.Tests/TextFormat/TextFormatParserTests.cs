using Butterfly.Cli.Tests.Support;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;
using Google.Protobuf;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.TextFormat;

public class TextFormatParserTests
{
    private static Messages Parse(string text)
    {
        var result = TextFormatParser.Parse<Messages>(text);
        Assert.True(result.Ok, result.Error);
        return (Messages)result.Message!;
    }

    private static string Error(string text)
    {
        var result = TextFormatParser.Parse<Messages>(text);
        Assert.False(result.Ok);
        return result.Error!;
    }

    [Fact]
    public void Round_trips_what_the_printer_prints()
    {
        foreach (var message in new[] { Samples.NicAdd(), Samples.Response(), new Messages() })
            Assert.Equal(message, Parse(TextFormatPrinter.Print(message)));
    }

    [Fact]
    public void Reads_what_protoc_prints_and_encodes_like_protoc()
    {
        var text = Protoc.Decode("proto.Messages", Samples.NicAdd().ToByteArray());
        Assert.Equal(Protoc.Encode("proto.Messages", text), Parse(text).ToByteArray());
    }

    [Fact]
    public void Accepts_the_usual_text_format_liberties()
    {
        const string text = """
            # a comment line
            messages <
              revision: 0x6,   # hex, trailing comma
              message_0: {
                message_id: 'single' "-double" 'and\x41\101\u00e9'
                request {
                  nic_add {
                    id: "n"; mac: "m"; vni: 010
                    ip: ["10.0.0.1", "10.0.0.2"]
                    ip: "10.0.0.3"
                    type: 1
                    ip_anti_spoof: t
                    bypass_filtering: 0
                  }
                }
              }
            >
            messages [{ revision: 6 message_0 { request { sg_list: True } } }, { revision: 6 }]
            """;
        var m = Parse(text);
        Assert.Equal(3, m.Messages_.Count);
        var m0 = m.Messages_[0].Message0;
        Assert.Equal(6u, m.Messages_[0].Revision);
        Assert.Equal("single-doubleandAAé", m0.MessageId);
        var nic = m0.Request.NicAdd;
        Assert.Equal(8u, nic.Vni);
        Assert.Equal(["10.0.0.1", "10.0.0.2", "10.0.0.3"], nic.Ip);
        Assert.Equal(Nic.Types.Type.Tap, nic.Type);
        Assert.True(nic.IpAntiSpoof);
        Assert.True(nic.HasBypassFiltering);
        Assert.False(nic.BypassFiltering);
        Assert.True(m.Messages_[1].Message0.Request.SgList);
        Assert.Equal(Protoc.Encode("proto.Messages", text), m.ToByteArray());
    }

    [Fact]
    public void Accepts_negative_numbers_and_enum_names()
    {
        var m = Parse("messages { revision: 6 message_0 { request { sg_rule_add { sg_id: \"s\" rule { direction: OUTBOUND protocol: -1 security_group: \"x\" } } } } }");
        var rule = m.Messages_[0].Message0.Request.SgRuleAdd.Rule;
        Assert.Equal(-1, rule.Protocol);
        Assert.Equal(Rule.Types.Direction.Outbound, rule.Direction);
    }

    [Theory]
    [InlineData("foo: 1", "1:1: Message type \"proto.Messages\" has no field named \"foo\".")]
    [InlineData("messages {\n  revision: 6\n  revision: 7\n}", "3:3: Non-repeated field \"revision\" is specified multiple times.")]
    [InlineData("messages { revision: -1 }", "1:22: Integer out of range for field \"revision\" (-1).")]
    [InlineData("messages { revision: 4294967296 }", "1:22: Integer out of range for field \"revision\" (4294967296).")]
    [InlineData("messages { revision: 6 message_0 { request { nic_list: yes } } }", "1:56: Invalid value for boolean field \"nic_list\". Value: \"yes\".")]
    [InlineData("messages { revision: 6 error { code: NOPE } }", "1:38: Unknown enumeration value of \"NOPE\" for field \"code\".")]
    [InlineData("messages { revision: 6 error { code: 9 } }", "1:38: Unknown enumeration value of \"9\" for field \"code\".")]
    [InlineData("messages { revision: 6 message_0 { message_id: \"abc\n } }", "1:48: String literals cannot cross line boundaries.")]
    [InlineData("messages { revision: 6 message_0 { message_id: \"abc } }", "1:48: Unexpected end of string.")]
    [InlineData("messages { revision: 6 message_0 { message_id: \"a\\qb\" } }", "1:50: Invalid escape sequence \"\\q\" in string literal.")]
    [InlineData("messages { revision 6 }", "1:21: Expected \":\", found \"6\".")]
    [InlineData("messages { revision: 6", "1:23: Expected \"}\".")]
    [InlineData("messages { revision: 6 } }", "1:26: Expected identifier, found \"}\".")]
    [InlineData("messages { revision: 6 message_0 { message_id: 5 } }", "1:48: Expected string, found \"5\".")]
    [InlineData("messages { revision: [6] }", "1:22: Field \"revision\" is not repeated, a list is not allowed.")]
    [InlineData("messages { revision: 09 }", "1:22: Invalid octal number \"09\".")]
    [InlineData("messages { revision: 6 message_0 { message_id: \"\\xff\" } }", "1:48: Field \"message_id\" is a string and must be valid UTF-8.")]
    public void Reports_errors_with_line_and_column(string text, string expected) => Assert.Equal(expected, Error(text));

    [Fact]
    public void Reports_missing_required_fields_with_their_path()
    {
        Assert.Equal(
            "Message missing required fields: messages[0].revision, messages[1].message_0.request.nic_add.mac, messages[1].message_0.request.nic_add.vni",
            Error("messages { } messages { revision: 6 message_0 { request { nic_add { id: \"x\" } } } }"));
    }

    [Fact]
    public void Bytes_fields_keep_arbitrary_bytes()
    {
        var m = Parse("messages { revision: 6 message_0 { response { status { status: true } nic_export { fw_data { data: \"\\000\\377a\" } } } } }");
        Assert.Equal(new byte[] { 0, 255, (byte)'a' }, m.Messages_[0].Message0.Response.NicExport.FwData.Data.ToByteArray());
    }
}
