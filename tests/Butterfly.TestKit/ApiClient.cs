using Butterfly.Wire;
using Google.Protobuf;
using NetMQ;
using NetMQ.Sockets;

namespace Butterfly.TestKit;

/// <summary>
/// A ZeroMQ REQ client of the Butterfly API (NetMQ), with a receive timeout. With a key,
/// requests travel in the legacy encrypted envelope and replies are opened. A REQ socket
/// that timed out cannot send again, so it is replaced before the TimeoutException. With CURVE
/// keys the socket is a CURVE client (a daemon that refuses its key never answers: the
/// requests time out).
/// Not thread-safe: one client per test thread.
/// </summary>
public sealed class ApiClient : IDisposable
{
    private readonly byte[]? _key;
    private readonly CurveClientKeys? _curve;
    private RequestSocket _socket;

    public ApiClient(string endpoint, TimeSpan? timeout = null, byte[]? key = null, CurveClientKeys? curve = null)
    {
        Endpoint = endpoint;
        Timeout = timeout ?? TimeSpan.FromSeconds(30);
        _key = key;
        _curve = curve;
        _socket = Connect();
    }

    public string Endpoint { get; }

    public TimeSpan Timeout { get; }

    /// <summary>Sends raw bytes and returns the raw reply (hostile-input tests use this).</summary>
    public byte[] SendRaw(byte[] body)
    {
        _socket.SendFrame(body);
        if (_socket.TryReceiveFrameBytes(Timeout, out var reply))
        {
            return reply;
        }

        _socket.Dispose();
        _socket = Connect();
        throw new TimeoutException($"no reply from {Endpoint} within {Timeout.TotalSeconds:0.#} s");
    }

    /// <summary>Sends a Messages (sealed when the client has a key) and returns the (opened) reply.</summary>
    public Messages Send(Messages request)
    {
        if (_key is null)
        {
            return Messages.Parser.ParseFrom(SendRaw(request.ToByteArray()));
        }

        var sealedRequest = new Messages
        {
            Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(request.ToByteArray(), _key)) },
        };
        var reply = Messages.Parser.ParseFrom(SendRaw(sealedRequest.ToByteArray()));
        if (reply.Encrypted is null || !reply.Encrypted.HasAes256CbcSha512)
        {
            throw new InvalidOperationException($"encrypted request got a reply without payload: {reply}");
        }

        var status = LegacyEnvelope.TryOpen(reply.Encrypted.Aes256CbcSha512.Span, _key, out var clear);
        return status == EnvelopeOpenStatus.Ok
            ? Messages.Parser.ParseFrom(clear)
            : throw new InvalidOperationException($"cannot open the encrypted reply: {status}");
    }

    /// <summary>Sends several requests in one Messages and returns one MessageV0 reply per request.</summary>
    public IReadOnlyList<MessageV0> SendBatch(IEnumerable<MessageV0.Types.Request> requests)
    {
        var reply = Send(Requests.Batch(requests));
        return [.. reply.Messages_.Select(m => m.Message0 ?? throw new InvalidOperationException($"reply without message_0: {m}"))];
    }

    /// <summary>Sends one request and returns its response (whatever its status).</summary>
    public MessageV0.Types.Response Call(MessageV0.Types.Request request, string? messageId = null)
    {
        var reply = Send(Requests.Batch([request], messageId));
        if (reply.Messages_.Count != 1 || reply.Messages_[0].Message0?.Response is not { } response)
        {
            throw new InvalidOperationException($"expected one MessageV0 response, got {reply}");
        }

        return response;
    }

    /// <summary>Sends one request and fails unless its status is true.</summary>
    public MessageV0.Types.Response CallOk(MessageV0.Types.Request request)
    {
        var response = Call(request);
        return response.Status.Status_
            ? response
            : throw new InvalidOperationException($"request {request} failed: {response.Status.Error?.Description}");
    }

    public void Dispose() => _socket.Dispose();

    private RequestSocket Connect()
    {
        var socket = new RequestSocket();
        // A test must not hang on close when the daemon is gone.
        socket.Options.Linger = TimeSpan.Zero;
        if (_curve is not null)
        {
            socket.Options.CurveServerKey = _curve.ServerPublicKey;
            socket.Options.CurveCertificate = new NetMQCertificate(_curve.Client.SecretKey, _curve.Client.PublicKey);
        }

        socket.Connect(Endpoint);
        return socket;
    }
}
