using Butterfly.Wire;

namespace Butterfly.Cli.Transport;

/// <summary>
/// A ZeroMQ REQ socket to the daemon (libzmq, <see cref="ZmqRequestClient"/>): one frame out,
/// one frame back, as the wire contract requires; a CURVE client when the target has keys. The
/// socket is made on first use and reused by chained commands. Without a timeout a reply is
/// awaited forever, like the original client (with CURVE, a daemon that refuses this client's
/// key never answers: ZeroMQ keeps retrying the handshake, so give -t).
/// </summary>
internal sealed class ZmqApiTransport : IApiTransport
{
    private readonly string _endpoint;
    private readonly CurveClientKeys? _curve;
    private ZmqRequestClient? _client;

    public ZmqApiTransport(ApiTarget target)
    {
        _endpoint = target.Endpoint;
        _curve = target.Curve;
    }

    public ExchangeResult Exchange(byte[] request, TimeSpan? timeout)
    {
        try
        {
            if (_client is null)
            {
                if (!LooksLikeEndpoint(_endpoint))
                    return new ExchangeResult(null, $"invalid endpoint '{_endpoint}' (expected e.g. tcp://127.0.0.1:9999)");
                _client = new ZmqRequestClient(_endpoint, _curve?.ServerKey, _curve?.PublicKey, _curve?.SecretKey);
            }

            return _client.Exchange(request, timeout, out var reply) switch
            {
                ExchangeStatus.Replied => new ExchangeResult(reply, null),
                ExchangeStatus.NotSent => new ExchangeResult(null, $"cannot send message to endpoint {_endpoint}"),
                _ => new ExchangeResult(null, $"no reply from {_endpoint} within {timeout!.Value.TotalMilliseconds} ms"),
            };
        }
        catch (InvalidOperationException e)
        {
            return new ExchangeResult(null, $"cannot talk to endpoint {_endpoint}: {e.Message}");
        }
        catch (DllNotFoundException)
        {
            return new ExchangeResult(null, $"cannot talk to endpoint {_endpoint}: libzmq ({LibZmq.Library}) is not installed (Debian package libzmq5)");
        }
    }

    // libzmq's own error for a malformed address ("Invalid argument") says little; catch the common mistakes first.
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
        _client?.Dispose();
        _client = null;
    }
}
