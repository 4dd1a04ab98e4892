using Butterfly.Api.Zmq.Server;
using Butterfly.TestKit;
using Butterfly.Wire;
using Google.Protobuf;
using Code = Butterfly.Wire.Error.Types.Code;
using EncCode = Butterfly.Wire.Encrypted.Types.Error.Types.Code;

namespace Butterfly.Api.Zmq.Tests.Server;

public class RequestEnvelopeTests
{
    private static readonly byte[] Key = [.. Enumerable.Range(0, 32).Select(i => (byte)(i * 7))];

    private static byte[] StatusRequest() => Requests.Batch([Requests.AppStatus()]).ToByteArray();

    private static Code SingleError(OpenedRequest opened)
    {
        Assert.NotNull(opened.Reply);
        var message = Assert.Single(opened.Reply.Messages_);
        Assert.Equal(6u, message.Revision);
        Assert.Null(message.Message0);
        Assert.NotNull(message.Error);
        Assert.True(message.Error.HasCode);
        return message.Error.Code;
    }

    [Fact]
    public void A_clear_request_is_dispatched_without_a_key()
    {
        var opened = new RequestEnvelope(null).Open(StatusRequest());

        Assert.Null(opened.Reply);
        Assert.False(opened.Encrypted);
        Assert.True(Assert.Single(opened.Items).Message0.Request.AppStatus);
    }

    [Theory]
    [InlineData("ff")]
    [InlineData("0a")]
    [InlineData("0a05")]
    [InlineData("0aff")]
    [InlineData("ffffffffffffffffffff01")]
    public void Undecodable_bytes_get_parse_error(string hex)
    {
        Assert.Equal(Code.ParseError, SingleError(new RequestEnvelope(null).Open(Convert.FromHexString(hex))));
    }

    [Fact]
    public void A_missing_required_field_gets_parse_error()
    {
        // Message { message_0 { } } without the required revision.
        var bytes = new byte[] { 0x0a, 0x02, 0x1a, 0x00 };

        Assert.Equal(Code.ParseError, SingleError(new RequestEnvelope(null).Open(bytes)));
    }

    [Fact]
    public void A_missing_required_field_deep_inside_gets_parse_error()
    {
        // Messages { Message { revision 6, message_0 { request { nic_add { id "a" } } } } }:
        // the Nic lacks its required mac and vni.
        byte[] nic = [0x0a, 0x01, (byte)'a'];
        byte[] request = [0x0a, (byte)nic.Length, .. nic];
        byte[] v0 = [0x0a, (byte)request.Length, .. request];
        byte[] message = [0x08, 0x06, 0x1a, (byte)v0.Length, .. v0];
        byte[] messages = [0x0a, (byte)message.Length, .. message];

        Assert.Equal(Code.ParseError, SingleError(new RequestEnvelope(null).Open(messages)));
    }

    [Fact]
    public void An_oversized_request_gets_parse_error_before_decoding()
    {
        var opened = new RequestEnvelope(null, maxRequestBytes: 10).Open(StatusRequest().Concat(new byte[10]).ToArray());

        Assert.Equal(Code.ParseError, SingleError(opened));
        Assert.Contains("larger than the 10-byte limit", opened.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_input_and_empty_messages_are_rejected()
    {
        Assert.Equal(Code.Rejected, SingleError(new RequestEnvelope(null).Open([])));
    }

    [Fact]
    public void Unknown_fields_are_ignored()
    {
        // Field 15 (varint) appended to a good request.
        var bytes = StatusRequest().Concat(new byte[] { 0x78, 0x01 }).ToArray();

        Assert.Single(new RequestEnvelope(null).Open(bytes).Items);
    }

    [Fact]
    public void Without_a_key_an_encrypted_request_is_rejected()
    {
        var request = new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(new byte[96]) } };

        Assert.Equal(Code.Rejected, SingleError(new RequestEnvelope(null).Open(request.ToByteArray())));
    }

    [Fact]
    public void With_a_key_a_clear_request_is_rejected()
    {
        Assert.Equal(Code.Rejected, SingleError(new RequestEnvelope(Key).Open(StatusRequest())));
    }

    [Fact]
    public void With_a_key_an_encrypted_request_is_opened_and_its_reply_sealed()
    {
        var envelope = new RequestEnvelope(Key);
        var request = new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(StatusRequest(), Key)) } };

        var opened = envelope.Open(request.ToByteArray());

        Assert.True(opened.Encrypted);
        Assert.Single(opened.Items);
        var reply = Messages.Parser.ParseFrom(envelope.Encode(RequestEnvelope.ErrorReply(Code.InternalError), encrypted: true));
        Assert.Empty(reply.Messages_);
        Assert.Equal(EnvelopeOpenStatus.Ok, LegacyEnvelope.TryOpen(reply.Encrypted.Aes256CbcSha512.Span, Key, out var clear));
        Assert.Equal(Code.InternalError, Messages.Parser.ParseFrom(clear).Messages_[0].Error.Code);
    }

    [Fact]
    public void An_encrypted_request_without_payload_is_not_supported()
    {
        var request = new Messages { Encrypted = new Encrypted() };

        var opened = new RequestEnvelope(Key).Open(request.ToByteArray());

        Assert.Empty(opened.Reply!.Messages_);
        Assert.Equal(EncCode.NotSupported, opened.Reply.Encrypted.Error.Code);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(95)]
    [InlineData(96)]
    public void A_payload_that_does_not_open_is_rejected(int length)
    {
        var request = new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(new byte[length]) } };

        var opened = new RequestEnvelope(Key).Open(request.ToByteArray());

        Assert.Equal(EncCode.Rejected, opened.Reply!.Encrypted.Error.Code);
    }

    [Fact]
    public void A_payload_sealed_with_another_key_is_rejected()
    {
        var other = new byte[32];
        var request = new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(StatusRequest(), other)) } };

        Assert.Equal(EncCode.Rejected, new RequestEnvelope(Key).Open(request.ToByteArray()).Reply!.Encrypted.Error.Code);
    }

    [Theory]
    [InlineData("ff")]
    [InlineData("")]
    public void Inside_the_envelope_bad_or_empty_requests_get_sealed_errors(string innerHex)
    {
        var request = new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(Convert.FromHexString(innerHex), Key)) } };

        var opened = new RequestEnvelope(Key).Open(request.ToByteArray());

        Assert.Equal(EnvelopeOpenStatus.Ok, LegacyEnvelope.TryOpen(opened.Reply!.Encrypted.Aes256CbcSha512.Span, Key, out var clear));
        var expected = innerHex.Length == 0 ? Code.Rejected : Code.ParseError;
        Assert.Equal(expected, Messages.Parser.ParseFrom(clear).Messages_.Single().Error.Code);
    }
}
