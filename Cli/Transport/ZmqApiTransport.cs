using NetMQ;
using NetMQ.Sockets;

namespace Butterfly.Cli.Transport;

/// <summary>
/// A ZeroMQ REQ socket (NetMQ) to the daemon: one frame out, one frame back, as the wire
/// contract requires; a CURVE client when the target has keys. The socket is made on first use
/// and reused by chained commands. Without a timeout a reply is awaited forever, like the
/// original client (with CURVE, a daemon that refuses this client's key never answers: ZeroMQ
/// keeps retrying the handshake, so give -t).
/// </summary>
internal sealed class ZmqApiTransport : IApiTransport
{
    private readonly string _endpoint;
    private readonly CurveClientKeys? _curve;
    private RequestSocket? _socket;

    public ZmqApiTransport(ApiTarget target)
    {
        _endpoint = target.Endpoint;
        _curve = target.Curve;
    }

    public ExchangeResult Exchange(byte[] request, TimeSpan? timeout)
    {
        try
        {
            if (_socket is null)
            {
                if (!LooksLikeEndpoint(_endpoint))
                    return new ExchangeResult(null, $"invalid endpoint '{_endpoint}' (expected e.g. tcp://127.0.0.1:9999)");
                var socket = new RequestSocket();
                // Never keep the process alive for a request nobody will read.
                socket.Options.Linger = TimeSpan.Zero;
                if (_curve is not null)
                {
                    socket.Options.CurveServerKey = _curve.ServerKey;
                    socket.Options.CurveCertificate = new NetMQCertificate(_curve.SecretKey, _curve.PublicKey);
                }
                try
                {
                    socket.Connect(_endpoint);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                _socket = socket;
            }

            var wait = timeout ?? TimeSpan.FromMilliseconds(-1);
            if (!_socket.TrySendFrame(wait, request))
                return new ExchangeResult(null, $"cannot send message to endpoint {_endpoint}");
            if (!_socket.TryReceiveFrameBytes(wait, out var reply))
                return new ExchangeResult(null, $"no reply from {_endpoint} within {timeout!.Value.TotalMilliseconds} ms");
            return new ExchangeResult(reply, null);
        }
        catch (Exception e) when (e is NetMQException or ArgumentException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // Some NetMQ messages span lines; the client reports one line.
            var reason = string.Join(' ', e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            return new ExchangeResult(null, $"cannot talk to endpoint {_endpoint}: {reason}");
        }
    }

    // NetMQ's own errors for a malformed address are obscure; catch the common mistakes first.
    private static bool LooksLikeEndpoint(string endpoint)
    {
        var sep = endpoint.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0 || sep + 3 >= endpoint.Length)
            return false;
        var scheme = endpoint[..sep];
        var address = endpoint[(sep + 3)..];
        return scheme switch
        {
            "tcp" => address.LastIndexOf(':') is var colon && colon > 0 && colon < address.Length - 1,
            "ipc" or "inproc" or "pgm" or "epgm" => true,
            _ => false,
        };
    }

    public void Dispose()
    {
        _socket?.Dispose();
        _socket = null;
    }
}
