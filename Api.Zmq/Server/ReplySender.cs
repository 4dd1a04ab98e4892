using Butterfly.Api.Zmq.Server.Transport;
using Serilog;

namespace Butterfly.Api.Zmq.Server;

/// <summary>
/// Delivers replies on the ROUTER socket: every reply is sent, or dropped with a count and a
/// warning, never lost silently. The socket is ROUTER_MANDATORY, so a reply to a peer that is
/// gone is refused (not swallowed); a peer over its send high-water mark (it pipelines and reads
/// slowly) gets its replies queued, in order, and retried every few milliseconds, for up to
/// <see cref="MaxWait"/>. Runs on the API thread only.
/// </summary>
internal sealed class ReplySender : IDisposable
{
    /// <summary>How long a reply waits for a peer that does not read before it is dropped.</summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(30);

    private readonly ZmqSocket _router;
    private readonly ILogger _log;
    private readonly LoopTimer _retry;
    private readonly Dictionary<string, Queue<(byte[][] Reply, string Origin, DateTime Since)>> _backlog = new(StringComparer.Ordinal);
    private long _dropped;

    public ReplySender(ZmqSocket router, ZmqLoop loop, ILogger log)
    {
        _router = router;
        _log = log;
        _router.SetInt(LibZmq.RouterMandatory, 1);
        _retry = loop.AddTimer(TimeSpan.FromMilliseconds(5), () =>
        {
            try
            {
                Flush();
            }
            catch (Exception e)
            {
                // A retry must never stop the API's loop.
                _log.Warning(e, "Retrying queued replies failed");
            }
        });
    }

    /// <summary>Replies dropped since start (peer gone, or not reading for <see cref="MaxWait"/>).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Replies waiting for a slow peer.</summary>
    public int Queued => _backlog.Values.Sum(q => q.Count);

    public void Send(string peer, byte[][] reply, string origin)
    {
        if (_backlog.TryGetValue(peer, out var queue))
        {
            // Keep the peer's replies in order behind those already waiting.
            queue.Enqueue((reply, origin, DateTime.UtcNow));
            return;
        }
        switch (TrySend(reply))
        {
            case SendResult.Sent:
                return;
            case SendResult.Full:
                _backlog[peer] = new Queue<(byte[][], string, DateTime)>([(reply, origin, DateTime.UtcNow)]);
                _retry.Enable = true;
                return;
            default:
                Drop(origin, "the peer is gone");
                return;
        }
    }

    private void Flush()
    {
        foreach (var (peer, queue) in _backlog.ToList())
        {
            while (queue.TryPeek(out var next))
            {
                var result = TrySend(next.Reply);
                if (result == SendResult.Full && DateTime.UtcNow - next.Since < MaxWait)
                {
                    break;
                }
                queue.Dequeue();
                if (result != SendResult.Sent)
                {
                    Drop(next.Origin, result == SendResult.Full ? $"the peer has not read for {MaxWait.TotalSeconds:0} s" : "the peer is gone");
                }
            }
            if (queue.Count == 0)
            {
                _backlog.Remove(peer);
            }
        }
        _retry.Enable = _backlog.Count > 0;
    }

    private SendResult TrySend(byte[][] reply) => _router.TrySend(reply);

    private void Drop(string origin, string why)
    {
        Interlocked.Increment(ref _dropped);
        _log.Warning("Reply to {Origin} dropped ({Why}); {Dropped} replies dropped since start", origin, why, Dropped);
    }

    public void Dispose() => _retry.Enable = false;
}
