using System.Diagnostics;
using System.Net.Sockets;
using Butterfly.TestKit;
using Butterfly.Wire;
using Google.Protobuf;
using NetMQ;
using NetMQ.Sockets;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// The connection-level promises of the API server: a client that pipelines gets every reply,
/// in order; a client that reconnects with the ZeroMQ identity it had is served at once.
/// </summary>
public sealed class ConnectionTests(DaemonFixture daemon) : IClassFixture<DaemonFixture>
{
    private static byte[] Body(MessageV0.Types.Request request, string id) =>
        Requests.Batch([request], id).ToByteArray();

    private static string ReplyId(NetMQMessage reply) =>
        Messages.Parser.ParseFrom(reply[reply.FrameCount - 1].ToByteArray()).Messages_[0].Message0.MessageId;

    [Fact]
    public void A_client_pipelining_thousands_of_requests_gets_every_reply_in_order()
    {
        using var dealer = new DealerSocket();
        dealer.Options.SendHighWatermark = 0;
        dealer.Options.ReceiveHighWatermark = 0;
        dealer.Connect(daemon.Daemon.Endpoint);
        const int Count = 20_000;
        var sg = Ids.New("pipe");
        for (var i = 0; i < Count; i++)
        {
            // Mostly reads, some writes: a peer's replies keep its order across both kinds.
            var request = i % 50 == 0 ? Requests.SgMemberAdd(sg, $"10.{i / 65536}.{i / 256 % 256}.{i % 256}") : Requests.SgList();
            dealer.SendMoreFrameEmpty().SendFrame(Body(request, i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Count; i++)
        {
            var reply = new NetMQMessage();
            Assert.True(dealer.TryReceiveMultipartMessage(TimeSpan.FromSeconds(30), ref reply), $"reply {i} of {Count} missing after {watch.Elapsed}");
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), ReplyId(reply));
        }
        using var api = daemon.Daemon.CreateClient();
        Assert.Equal(Count / 50, api.Call(Requests.SgMemberList(sg)).SgMemberList.Count);
    }

    [Fact]
    public void A_client_reconnecting_with_the_same_identity_is_served_every_time()
    {
        var identity = System.Text.Encoding.ASCII.GetBytes(Ids.New("same-id-"));
        for (var round = 0; round < 12; round++)
        {
            using var dealer = new DealerSocket();
            dealer.Options.Identity = identity;
            dealer.Options.Linger = TimeSpan.Zero;
            dealer.Connect(daemon.Daemon.Endpoint);
            dealer.SendMoreFrameEmpty().SendFrame(Body(Requests.NicList(), $"r{round}"));
            var reply = new NetMQMessage();
            Assert.True(dealer.TryReceiveMultipartMessage(TimeSpan.FromSeconds(5), ref reply), $"round {round}: no reply to a reconnected identity");
            Assert.Equal($"r{round}", ReplyId(reply));
            // The next round reconnects at once, often before the daemon has seen this one go.
        }
    }

    [Fact]
    public async Task A_connection_that_never_completes_the_handshake_is_closed_and_others_are_served()
    {
        using var silent = new TcpClient();
        await silent.ConnectAsync("127.0.0.1", new Uri(daemon.Daemon.Endpoint.Replace("tcp://", "http://", StringComparison.Ordinal)).Port);
        using var api = daemon.Daemon.CreateClient();
        ApiAssert.Ok(api.Call(Requests.NicList()));

        // The daemon closes it after its handshake timeout: the read sees the end of the stream.
        var stream = silent.GetStream();
        var buffer = new byte[256];
        var watch = Stopwatch.StartNew();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var closed = false;
        try
        {
            while (true)
            {
                var n = await stream.ReadAsync(buffer, timeout.Token);
                if (n == 0)
                {
                    closed = true;
                    break;
                }
            }
        }
        catch (IOException)
        {
            closed = true;
        }
        Assert.True(closed, $"still open after {watch.Elapsed}");
        ApiAssert.Ok(api.Call(Requests.NicList()));
    }
}
