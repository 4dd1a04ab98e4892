using System.Text;
using Butterfly.Application.Configuration;
using Butterfly.Wire;
using Google.Protobuf;
using NetMQ;
using NetMQ.Sockets;
using Serilog;
using Serilog.Events;

namespace Butterfly.Api.Zmq.Server;

/// <summary>
/// The API's ZeroMQ server. A ROUTER socket speaks to REQ clients (libzmq, pyzmq, NetMQ):
/// the frames up to and including the empty delimiter are the REQ envelope, echoed back in
/// front of the reply, and the frame after it is one serialized <c>proto.Messages</c>.
/// <para>
/// Group commit: when the socket becomes readable, every request already queued (at most
/// <see cref="MaxGroup"/>) is taken, each Message is handled through the mediator in order
/// (writes stage events), then ONE <see cref="ConfigurationStore.CommitAsync"/> makes the
/// whole group durable, and only then are the replies sent. If the commit fails, every
/// write reply of the group becomes <c>status false</c> with the store's description.
/// </para>
/// Thread model: everything runs on the thread that calls <see cref="Run"/> (the API thread);
/// <see cref="Stop"/> may be called from any thread.
/// </summary>
internal sealed class ApiServer : IDisposable
{
    /// <summary>Most requests handled per commit; bounds the latency one group adds to the next.</summary>
    public const int MaxGroup = 256;

    /// <summary>
    /// Frames above this are dropped by NetMQ with the connection (as libzmq's maxmsgsize
    /// does) so that a hostile peer cannot make the daemon buffer without bound; requests
    /// between <see cref="WireProtocol.MaxRequestBytes"/> and this get a PARSE_ERROR reply.
    /// </summary>
    public const long MaxFrameBytes = 4L * WireProtocol.MaxRequestBytes;

    private readonly string _endpoint;
    private readonly RequestEnvelope _envelope;
    private readonly MessageDispatcher _dispatcher;
    private readonly ConfigurationStore _store;
    private readonly Func<bool> _shutdownRequested;
    private readonly ILogger _log;
    private readonly RouterSocket _router = new();
    private readonly NetMQPoller _poller;
    private ulong _requestCounter;
    private volatile bool _stopRequested;
    private bool _disposed;

    /// <param name="endpoint">tcp:// endpoint to bind.</param>
    /// <param name="envelope">Decodes requests and encodes replies (with or without a key).</param>
    /// <param name="dispatcher">Handles each MessageV0.</param>
    /// <param name="store">Commits the events the group staged.</param>
    /// <param name="shutdownRequested">Polled after each group's replies are sent (app_quit).</param>
    /// <param name="log">The daemon's logger.</param>
    public ApiServer(string endpoint, RequestEnvelope envelope, MessageDispatcher dispatcher, ConfigurationStore store, Func<bool> shutdownRequested, ILogger log)
    {
        _endpoint = endpoint;
        _envelope = envelope;
        _dispatcher = dispatcher;
        _store = store;
        _shutdownRequested = shutdownRequested;
        _log = log;
        _router.Options.MaxMsgSize = MaxFrameBytes;
        // Keep unsent replies (the app_quit one) for a moment when the socket closes.
        _router.Options.Linger = TimeSpan.FromSeconds(2);
        _router.ReceiveReady += OnReceiveReady;
        _poller = [_router];
    }

    /// <summary>Requests received since start (each ZeroMQ request counts once).</summary>
    public ulong RequestCounter => Interlocked.Read(ref _requestCounter);

    /// <summary>Binds the endpoint; returns why it could not, or null.</summary>
    public string? Bind()
    {
        try
        {
            var host = _endpoint["tcp://".Length.._endpoint.LastIndexOf(':')];
            // NetMQ needs dual-stack sockets for IPv6 endpoints; IPv4-only is its default.
            _router.Options.IPv4Only = !host.StartsWith('[');
            _router.Bind(_endpoint);
            return null;
        }
        catch (Exception e)
        {
            return $"cannot bind the API endpoint {_endpoint}: {e.Message}";
        }
    }

    /// <summary>Serves until <see cref="Stop"/> is called or app_quit was answered.</summary>
    public void Run()
    {
        _log.Information("API listening on {Endpoint}", _endpoint);
        // A Stop() that came before the poller ran is honoured by this first poller task.
        _ = Task.Factory.StartNew(StopIfRequested, CancellationToken.None, TaskCreationOptions.None, _poller);
        _poller.Run();
        _log.Information("API stopped");
    }

    /// <summary>Stops serving after the group in progress has been answered. Thread-safe.</summary>
    public void Stop()
    {
        _stopRequested = true;
        if (_poller.IsRunning)
        {
            _poller.StopAsync();
        }
    }

    private void StopIfRequested()
    {
        if (_stopRequested)
        {
            _poller.StopAsync();
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _poller.Dispose();
        _router.Dispose();
    }

    private void OnReceiveReady(object? sender, NetMQSocketEventArgs e)
    {
        var group = new List<PendingRequest>();
        // NetMQPoller installs its own SynchronizationContext on this thread. Handlers are
        // awaited synchronously here, so a continuation posted back to this (blocked) thread
        // would never run: without a context, continuations go to the thread pool instead.
        var pollerContext = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            var frames = new NetMQMessage();
            while (group.Count < MaxGroup && _router.TryReceiveMultipartMessage(TimeSpan.Zero, ref frames))
            {
                Interlocked.Increment(ref _requestCounter);
                group.Add(Accept(frames));
                frames = new NetMQMessage();
            }

            HandleGroup(group);
        }
        catch (Exception ex)
        {
            // Nothing above should throw; if something does, the daemon must keep serving and
            // every client of the group still gets an answer.
            _log.Error(ex, "Unexpected failure while serving a group of {Count} requests", group.Count);
            foreach (var pending in group.Where(p => p.ReplyBody is null))
            {
                pending.ReplyBody = RequestEnvelope.ErrorReply(Error.Types.Code.InternalError).ToByteArray();
            }
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(pollerContext);
        }

        foreach (var pending in group)
        {
            Send(pending);
        }

        if (_shutdownRequested())
        {
            _log.Information("Shutdown requested through the API");
            _poller.StopAsync();
        }
    }

    private PendingRequest Accept(NetMQMessage frames)
    {
        // REQ envelope: [routing id][...][empty delimiter][body]. A DEALER peer that sends
        // no delimiter gets its reply framed the same way as it asked: [routing id][body].
        var delimiter = -1;
        for (var i = 1; i < frames.FrameCount; i++)
        {
            if (frames[i].BufferSize == 0)
            {
                delimiter = i;
                break;
            }
        }

        var bodyStart = delimiter < 0 ? 1 : delimiter + 1;
        var envelope = new List<NetMQFrame>();
        for (var i = 0; i < bodyStart; i++)
        {
            envelope.Add(frames[i]);
        }

        var origin = Origin(frames[0]);
        OpenedRequest opened;
        if (frames.FrameCount - bodyStart != 1)
        {
            opened = OpenedRequest.Refused(
                RequestEnvelope.ErrorReply(Error.Types.Code.ParseError),
                $"expected one body frame after the envelope, got {frames.FrameCount - bodyStart}");
        }
        else
        {
            opened = _envelope.Open(frames[bodyStart].Buffer.AsSpan(0, frames[bodyStart].MessageSize));
        }

        if (opened.Problem is not null)
        {
            _log.Warning("Request from {Origin} refused: {Problem}", origin, opened.Problem);
        }
        else if (_log.IsEnabled(LogEventLevel.Debug))
        {
            _log.Debug("Request from {Origin}: {Request}", origin, new Messages { Messages_ = { opened.Items } }.ToString());
        }

        return new PendingRequest(envelope, opened, origin);
    }

    private void HandleGroup(List<PendingRequest> group)
    {
        var writes = new List<MessageV0>();
        foreach (var pending in group.Where(p => p.Opened.Reply is null))
        {
            var reply = new Messages();
            foreach (var item in pending.Opened.Items)
            {
                var message = new Message { Revision = WireProtocol.Revision };
                if (item.Message0 is null)
                {
                    message.Error = new Error { Code = Error.Types.Code.VersionNotManaged };
                }
                else
                {
                    var (v0, isWrite) = Wait(_dispatcher.DispatchAsync(item.Message0, pending.Origin, RequestCounter, CancellationToken.None));
                    message.Message0 = v0;
                    if (isWrite && v0.Response.Status.Status_)
                    {
                        writes.Add(v0);
                    }
                }

                reply.Messages_.Add(message);
            }

            pending.Reply = reply;
        }

        var commitError = Commit();
        if (commitError is not null)
        {
            _log.Error("Group of {Count} requests not stored: {Error}", group.Count, commitError);
            foreach (var v0 in writes)
            {
                v0.Response.Status = new MessageV0.Types.Status
                {
                    Status_ = false,
                    Error = new MessageV0.Types.Error { Description = commitError },
                };
            }
        }

        foreach (var pending in group)
        {
            pending.ReplyBody = pending.Opened.Reply is { } refused
                ? refused.ToByteArray()
                : _envelope.Encode(pending.Reply!, pending.Opened.Encrypted);
            if (_log.IsEnabled(LogEventLevel.Debug))
            {
                _log.Debug("Reply to {Origin}: {Reply}", pending.Origin, pending.Reply?.ToString() ?? pending.Opened.Reply!.ToString());
            }
        }
    }

    private string? Commit()
    {
        if (!_store.HasStagedEvents)
        {
            return null;
        }

        var events = _store.StagedEventCount;
        try
        {
            var error = _store.CommitAsync(CancellationToken.None).GetAwaiter().GetResult();
            if (error is null)
            {
                _log.Debug("Committed {Events} events for the group", events);
            }

            return error;
        }
        catch (Exception e)
        {
            _store.DiscardStaged();
            return $"the change was not saved: {e.Message}";
        }
    }

    private void Send(PendingRequest pending)
    {
        var reply = new NetMQMessage(pending.Envelope);
        reply.Append(pending.ReplyBody ?? RequestEnvelope.ErrorReply(Error.Types.Code.InternalError).ToByteArray());
        // A ROUTER never blocks on send: a peer that went away (or is over its high-water
        // mark) just loses its reply, as with any ZeroMQ REP server.
        if (!_router.TrySendMultipartMessage(TimeSpan.Zero, reply))
        {
            _log.Warning("Reply to {Origin} dropped: the peer is gone or not reading", pending.Origin);
        }
    }

    /// <summary>
    /// Who sent a request, as the event log records it. NetMQ does not expose a peer's
    /// address, so the ROUTER routing id (the client's own identity when it set one, text if
    /// printable) and the bound endpoint identify the connection.
    /// </summary>
    private string Origin(NetMQFrame routingId)
    {
        var id = routingId.ToByteArray();
        var printable = id.Length > 0 && id[0] != 0 && id.All(b => b is >= 0x20 and < 0x7f);
        var text = printable ? Encoding.ASCII.GetString(id) : Convert.ToHexStringLower(id);
        return $"{_endpoint} peer {text}";
    }

    private static T Wait<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    private sealed class PendingRequest(List<NetMQFrame> envelope, OpenedRequest opened, string origin)
    {
        public List<NetMQFrame> Envelope { get; } = envelope;

        public OpenedRequest Opened { get; } = opened;

        public string Origin { get; } = origin;

        /// <summary>The clear reply built for dispatched messages (before encoding).</summary>
        public Messages? Reply { get; set; }

        /// <summary>The bytes to send.</summary>
        public byte[]? ReplyBody { get; set; }
    }
}
