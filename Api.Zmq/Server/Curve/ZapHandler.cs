using System.Text;
using Butterfly.Api.Zmq.Server.Transport;
using Butterfly.Wire;
using Serilog;

namespace Butterfly.Api.Zmq.Server.Curve;

/// <summary>
/// The ZAP handler (ZeroMQ RFC 27) of the API's libzmq context: libzmq asks it, on
/// <c>inproc://zeromq.zap.01</c>, about every client that completed a CURVE handshake, and
/// lets the connection in only on a "200" answer. A client is let in when its long-term public
/// key is in the allow-list; the answer's user id is that key in Z85, which libzmq then attaches
/// to every message of the connection as <c>User-Id</c> (recorded with the events it causes).
/// Bound before the API's socket, so no connection is ever handled without it (libzmq lets
/// clients in when no handler is bound). Runs on the API loop's thread.
/// </summary>
internal sealed class ZapHandler : IDisposable
{
    public const string Endpoint = "inproc://zeromq.zap.01";

    /// <summary>A refused client's retries (ZeroMQ retries the handshake every few hundred ms) are logged once per this interval.</summary>
    private static readonly TimeSpan RefusalLogInterval = TimeSpan.FromMinutes(1);

    private readonly ZmqSocket _socket;
    private readonly CurveSecurity _curve;
    private readonly ILogger _log;
    private readonly Dictionary<string, (DateTime Logged, long Unlogged)> _refusals = new(StringComparer.Ordinal);

    public ZapHandler(IntPtr context, CurveSecurity curve, ILogger log)
    {
        _curve = curve;
        _log = log;
        _socket = new ZmqSocket(context, LibZmq.Rep);
        _socket.SetInt(LibZmq.Linger, 0);
        if (_socket.Bind(Endpoint) is { } error)
        {
            _socket.Dispose();
            throw new InvalidOperationException($"cannot bind the ZAP handler ({Endpoint}): {error}");
        }
    }

    public IntPtr Socket => _socket.Handle;

    /// <summary>Handshakes let in and refused since start.</summary>
    public long Accepted { get; private set; }

    public long Refused { get; private set; }

    /// <summary>Answers every request waiting (the loop calls it when the socket is readable).</summary>
    public void OnReadable()
    {
        while (_socket.TryReceive() is { } request)
        {
            _ = _socket.TrySend(Answer(request.Frames));
        }
    }

    /// <summary>
    /// The reply to one request: version, request id, status code, status text, user id, metadata.
    /// A request: version "1.0", request id, domain, address, identity, mechanism, credentials.
    /// </summary>
    internal byte[][] Answer(List<byte[]> request)
    {
        static byte[] Text(string s) => Encoding.ASCII.GetBytes(s);
        var version = request.Count > 0 ? request[0] : [];
        var requestId = request.Count > 1 ? request[1] : [];
        if (request.Count < 6 || Encoding.ASCII.GetString(version) != "1.0")
        {
            Refused++;
            _log.Warning("API: malformed ZAP request of {Frames} frames refused", request.Count);
            return [Text("1.0"), requestId, Text("500"), Text("malformed ZAP request"), [], []];
        }
        var address = Encoding.ASCII.GetString(request[3]);
        var mechanism = Encoding.ASCII.GetString(request[5]);
        if (mechanism != "CURVE" || request.Count < 7 || request[6].Length != CurveKeys.KeyBytes)
        {
            Refused++;
            LogRefusal($"{mechanism} {address}", "API: client {Address} refused: mechanism {Mechanism}, CURVE required", address, mechanism);
            return [version, requestId, Text("400"), Text("CURVE required"), [], []];
        }
        var key = CurveKeys.Z85Encode(request[6]);
        if (!_curve.Allowed.Contains(key))
        {
            Refused++;
            LogRefusal($"{key} {address}", "API: CURVE client {Key} from {Address} refused: its key is not in the allow-list ({Source})",
                key, address, _curve.Allowed.Source);
            return [version, requestId, Text("400"), Text("client key not allowed"), [], []];
        }
        Accepted++;
        _log.Debug("API: CURVE client {Key} from {Address} let in", key, address);
        return [version, requestId, Text("200"), Text("OK"), Text(key), []];
    }

    /// <summary>
    /// Logs a refusal, but the retries of the same client (key and address) once a minute, with
    /// how many were not logged: a refused ZeroMQ client retries its handshake without end.
    /// </summary>
    private void LogRefusal(string client, string template, params object?[] values)
    {
        var now = DateTime.UtcNow;
        if (_refusals.TryGetValue(client, out var seen) && now - seen.Logged < RefusalLogInterval)
        {
            _refusals[client] = seen with { Unlogged = seen.Unlogged + 1 };
            return;
        }
        if (_refusals.Count >= 4096)
        {
            _refusals.Clear();
        }
        _refusals[client] = (now, 0);
        _log.Warning(seen.Unlogged > 0 ? template + " ({Retries} more refusals of it in the last minute)" : template,
            seen.Unlogged > 0 ? [.. values, seen.Unlogged] : values);
    }

    public void Dispose() => _socket.Dispose();
}
