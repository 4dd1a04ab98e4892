using Butterfly.TestKit;
using Butterfly.Wire;
using Google.Protobuf;
using NetMQ;
using NetMQ.Sockets;
using Code = Butterfly.Wire.Error.Types.Code;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>Whatever arrives, the daemon answers with an error reply and keeps serving.</summary>
public class HostileInputTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private readonly ApiClient _api = fixture.Client;

    private Code SingleErrorFor(byte[] body)
    {
        var reply = Messages.Parser.ParseFrom(_api.SendRaw(body));
        var message = Assert.Single(reply.Messages_);
        Assert.Equal(6u, message.Revision);
        Assert.True(message.Error.HasCode);
        StillServing();
        return message.Error.Code;
    }

    private void StillServing()
    {
        Assert.False(fixture.Daemon.HasExited, fixture.Daemon.Tail());
        ApiAssert.Ok(_api.Call(Requests.AppStatus()));
    }

    [Fact]
    public void Random_bytes_get_parse_error()
    {
        var random = new Random(1234);
        for (var i = 0; i < 200; i++)
        {
            var body = new byte[random.Next(1, 300)];
            random.NextBytes(body);
            var reply = Messages.Parser.ParseFrom(_api.SendRaw(body));
            var message = Assert.Single(reply.Messages_);
            // Random bytes occasionally decode (e.g. as unknown fields); they must still be answered.
            Assert.True(message.Error is not null || message.Message0 is not null);
        }

        StillServing();
    }

    [Fact]
    public void Every_truncation_of_a_valid_request_is_answered()
    {
        var body = Requests.Batch([Requests.NicAdd(Ids.New("n"), ips: ["10.0.0.1"]), Requests.SgList()]).ToByteArray();
        for (var length = 1; length < body.Length; length++)
        {
            var reply = Messages.Parser.ParseFrom(_api.SendRaw(body[..length]));
            Assert.NotEmpty(reply.Messages_);
        }

        Assert.Equal(Code.ParseError, SingleErrorFor(body[..(body.Length - 1)]));
    }

    [Fact]
    public void A_missing_required_field_gets_parse_error()
    {
        // Messages { Message { message_0 { request { nic_list } } } } without the required revision.
        byte[] request = [0x20, 0x01];
        byte[] v0 = [0x0a, (byte)request.Length, .. request];
        byte[] message = [0x1a, (byte)v0.Length, .. v0];

        Assert.Equal(Code.ParseError, SingleErrorFor([0x0a, (byte)message.Length, .. message]));
    }

    [Fact]
    public void A_nic_without_its_required_mac_gets_parse_error()
    {
        byte[] nic = [0x0a, 0x01, (byte)'x', 0x18, 0x01]; // id and vni, no mac
        byte[] request = [0x0a, (byte)nic.Length, .. nic];
        byte[] v0 = [0x0a, (byte)request.Length, .. request];
        byte[] message = [0x08, 0x06, 0x1a, (byte)v0.Length, .. v0];

        Assert.Equal(Code.ParseError, SingleErrorFor([0x0a, (byte)message.Length, .. message]));
    }

    [Fact]
    public void Empty_requests_are_rejected()
    {
        Assert.Equal(Code.Rejected, SingleErrorFor([]));
        Assert.Equal(Code.Rejected, SingleErrorFor(new Messages().ToByteArray()));
    }

    [Fact]
    public void A_request_over_the_size_limit_gets_parse_error()
    {
        var request = Requests.Batch([Requests.NicList()]);
        request.Messages_[0].Message0.MessageId = new string('x', WireProtocol.MaxRequestBytes);

        Assert.Equal(Code.ParseError, SingleErrorFor(request.ToByteArray()));
    }

    [Fact]
    public void A_frame_over_the_transport_limit_costs_only_its_own_connection()
    {
        using (var socket = new DealerSocket())
        {
            socket.Options.Linger = TimeSpan.Zero;
            socket.Connect(fixture.Daemon.Endpoint);
            socket.SendMoreFrameEmpty().SendFrame(new byte[65 * 1024 * 1024]);
            Assert.False(socket.TryReceiveFrameBytes(TimeSpan.FromSeconds(3), out _), "no reply: the connection is dropped");
        }

        StillServing();
    }

    [Fact]
    public void Deeply_nested_garbage_gets_parse_error()
    {
        // 200 nested length-delimited field-1 wrappers exceed protobuf's recursion limit.
        byte[] body = [0x08, 0x06];
        for (var i = 0; i < 200; i++)
        {
            var length = new List<byte>();
            var n = (uint)body.Length;
            while (n > 0x7f)
            {
                length.Add((byte)(0x80 | (n & 0x7f)));
                n >>= 7;
            }

            length.Add((byte)n);
            body = [0x0a, .. length, .. body];
        }

        Assert.Equal(Code.ParseError, SingleErrorFor(body));
    }

    [Fact]
    public void A_multipart_request_gets_parse_error()
    {
        using var socket = new DealerSocket();
        socket.Options.Linger = TimeSpan.Zero;
        socket.Connect(fixture.Daemon.Endpoint);
        var body = Requests.Batch([Requests.NicList()]).ToByteArray();

        socket.SendMoreFrameEmpty().SendMoreFrame(body).SendFrame(body);

        NetMQMessage? reply = null;
        Assert.True(socket.TryReceiveMultipartMessage(TimeSpan.FromSeconds(10), ref reply));
        Assert.Equal(2, reply!.FrameCount);
        Assert.Equal(0, reply[0].BufferSize);
        Assert.Equal(Code.ParseError, Messages.Parser.ParseFrom(reply[1].ToByteArray()).Messages_.Single().Error.Code);
        StillServing();
    }

    [Fact]
    public void A_dealer_without_delimiter_is_answered_in_its_own_framing()
    {
        using var socket = new DealerSocket();
        socket.Options.Linger = TimeSpan.Zero;
        socket.Connect(fixture.Daemon.Endpoint);

        socket.SendFrame(Requests.Batch([Requests.NicList()]).ToByteArray());

        Assert.True(socket.TryReceiveFrameBytes(TimeSpan.FromSeconds(10), out var reply));
        ApiAssert.Ok(Messages.Parser.ParseFrom(reply).Messages_.Single().Message0.Response);
    }

    [Fact]
    public void A_client_that_leaves_before_its_reply_does_not_disturb_others()
    {
        for (var i = 0; i < 20; i++)
        {
            using var socket = new RequestSocket();
            socket.Options.Linger = TimeSpan.Zero;
            socket.Connect(fixture.Daemon.Endpoint);
            socket.SendFrame(Requests.Batch([Requests.AppStatus()]).ToByteArray());
        }

        StillServing();
    }

    [Fact]
    public void An_encrypted_request_to_a_daemon_without_key_is_rejected()
    {
        var request = new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(new byte[96]) } };

        Assert.Equal(Code.Rejected, SingleErrorFor(request.ToByteArray()));
    }
}
