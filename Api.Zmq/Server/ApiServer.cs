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
/// The API thread never waits on the event store. A request is served by its kind
/// (<see cref="MessageDispatcher.KindOf(IEnumerable{Message})"/>, from the types of its mediator messages):
/// <list type="bullet">
/// <item>queries over the live configuration are answered at once, also while a commit is on its way
/// (they see the durable configuration);</item>
/// <item>queries that read the event store run on the thread pool within the store timeout;</item>
/// <item>commands form a group: every command request waiting when no commit is in flight (at most
/// <see cref="MaxGroup"/>) is handled in order (writes stage events, later items of the group see
/// them), then ONE append makes the group durable off the API thread, and only then are the replies
/// sent. If it fails, every write reply of the group becomes <c>status false</c> with the store's
/// description. Commands that arrive meanwhile wait for the next group: that is the group commit.</item>
/// </list>
/// A peer's requests are answered in the order it sent them: while one of its requests waits for
/// the store, its later ones wait too. Replies are delivered or dropped with a count and a warning
/// (<see cref="ReplySender"/>).
/// </para>
/// Thread model: everything but the store calls runs on the thread that calls <see cref="Run"/>
/// (the API thread); <see cref="Stop"/> may be called from any thread.
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

    /// <summary>A TCP connection that has not completed the ZeroMQ handshake by then is closed (<see cref="HandshakeWatchdog"/>).</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly string _endpoint;
    private readonly RequestEnvelope _envelope;
    private readonly MessageDispatcher _dispatcher;
    private readonly ConfigurationStore _store;
    private readonly Func<bool> _shutdownRequested;
    private readonly ILogger _log;
    private readonly TimeSpan _storeTimeout;
    private readonly RouterSocket _router = new();
    private readonly NetMQPoller _poller;
    private readonly ReplySender _replies;
    private readonly HandshakeWatchdog _handshakes;
    private readonly LinkedList<PendingRequest> _waiting = new();
    private readonly HashSet<string> _busyPeers = new(StringComparer.Ordinal);
    private ulong _requestCounter;
    private bool _writeInFlight;
    private volatile bool _stopRequested;
    private bool _disposed;

    /// <param name="endpoint">tcp:// endpoint to bind.</param>
    /// <param name="envelope">Decodes requests and encodes replies (with or without a key).</param>
    /// <param name="dispatcher">Handles each MessageV0.</param>
    /// <param name="store">Commits the events the group staged.</param>
    /// <param name="shutdownRequested">Polled after replies are sent (app_quit).</param>
    /// <param name="log">The daemon's logger.</param>
    /// <param name="storeTimeout">How long a query that reads the event store may take.</param>
    public ApiServer(string endpoint, RequestEnvelope envelope, MessageDispatcher dispatcher, ConfigurationStore store, Func<bool> shutdownRequested,
        ILogger log, TimeSpan? storeTimeout = null)
    {
        _endpoint = endpoint;
        _envelope = envelope;
        _dispatcher = dispatcher;
        _store = store;
        _shutdownRequested = shutdownRequested;
        _log = log;
        _storeTimeout = storeTimeout ?? store.WriteTimeout;
        _router.Options.MaxMsgSize = MaxFrameBytes;
        // Keep unsent replies (the app_quit one) for a moment when the socket closes.
        _router.Options.Linger = TimeSpan.FromSeconds(2);
        // A client that reconnects with the identity it had gets it (the stale connection loses it).
        _router.Options.RouterHandover = true;
        // Room for clients that pipeline many requests before reading their replies.
        _router.Options.SendHighWatermark = 100_000;
        _router.Options.ReceiveHighWatermark = 100_000;
        _router.ReceiveReady += OnReceiveReady;
        _poller = [_router];
        _replies = new ReplySender(_router, _poller, log);
        _handshakes = new HandshakeWatchdog(_router, _poller, HandshakeTimeout, log);
    }

    /// <summary>Where each request's type, outcome and latency are counted (--metrics-endpoint), or null.</summary>
    public Metrics.DaemonMetrics? Metrics { get; init; }

    /// <summary>Requests received since start (each ZeroMQ request counts once).</summary>
    public ulong RequestCounter => Interlocked.Read(ref _requestCounter);

    /// <summary>Replies dropped since start (the peer was gone or did not read).</summary>
    public long RepliesDropped => _replies.Dropped;

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

    /// <summary>Stops serving once the commit in flight (if any) has been answered. Thread-safe.</summary>
    public void Stop()
    {
        _stopRequested = true;
        if (_poller.IsRunning)
        {
            _ = Task.Factory.StartNew(StopIfRequested, CancellationToken.None, TaskCreationOptions.None, _poller);
        }
    }

    private void StopIfRequested()
    {
        if ((_stopRequested || _shutdownRequested()) && !_writeInFlight)
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
        _handshakes.Dispose();
        _replies.Dispose();
        _poller.Dispose();
        _router.Dispose();
    }

    private void OnReceiveReady(object? sender, NetMQSocketEventArgs e)
    {
        var frames = new NetMQMessage();
        var taken = 0;
        while (taken++ < 4 * MaxGroup && _router.TryReceiveMultipartMessage(TimeSpan.Zero, ref frames))
        {
            Interlocked.Increment(ref _requestCounter);
            _waiting.AddLast(Accept(frames));
            frames = new NetMQMessage();
        }
        Pump();
    }

    /// <summary>
    /// Serves what can be served now, in arrival order per peer: refused requests and queries at
    /// once, store queries in the background, and the commands waiting as one group when no commit
    /// is in flight.
    /// </summary>
    private void Pump()
    {
        // NetMQPoller installs its own SynchronizationContext on this thread. Handlers are
        // awaited synchronously here, so a continuation posted back to this (blocked) thread
        // would never run: without a context, continuations go to the thread pool instead.
        var pollerContext = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            var held = new HashSet<string>(_busyPeers, StringComparer.Ordinal);
            var group = new List<PendingRequest>();
            var inGroup = new HashSet<string>(StringComparer.Ordinal);
            for (var node = _waiting.First; node is not null;)
            {
                var next = node.Next;
                var pending = node.Value;
                // A peer's later requests wait behind its command in the group, unless they join it.
                if (held.Contains(pending.Peer) || (pending.Kind != RequestKind.Command && inGroup.Contains(pending.Peer)))
                {
                    held.Add(pending.Peer);
                    node = next;
                    continue;
                }
                switch (pending.Kind)
                {
                    case RequestKind.Command when !_writeInFlight && !_stopRequested && group.Count < MaxGroup:
                        _waiting.Remove(node);
                        group.Add(pending);
                        inGroup.Add(pending.Peer);
                        break;
                    case RequestKind.Command:
                        held.Add(pending.Peer);
                        break;
                    case RequestKind.StoreQuery:
                        _waiting.Remove(node);
                        held.Add(pending.Peer);
                        StartStoreQuery(pending);
                        break;
                    default:
                        _waiting.Remove(node);
                        Answer(pending);
                        break;
                }
                node = next;
            }
            if (group.Count > 0)
            {
                StartGroup(group);
            }
        }
        catch (Exception ex)
        {
            // Nothing above should throw; if something does, the daemon must keep serving.
            _log.Error(ex, "Unexpected failure while serving requests");
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(pollerContext);
        }
        StopIfRequested();
    }

    /// <summary>A refused request or a query of the live configuration: answered now.</summary>
    private void Answer(PendingRequest pending)
    {
        if (pending.Opened.Reply is null)
        {
            pending.Reply = Dispatch(pending, CancellationToken.None, out _);
        }
        Send(pending);
    }

    private void StartStoreQuery(PendingRequest pending)
    {
        _busyPeers.Add(pending.Peer);
        var items = pending.Opened.Items;
        var counter = RequestCounter;
        _ = Task.Run(async () =>
        {
            using var deadline = new CancellationTokenSource(_storeTimeout);
            var reply = new Messages();
            foreach (var item in items)
            {
                var message = new Message { Revision = WireProtocol.Revision };
                if (item.Message0 is null)
                {
                    message.Error = new Error { Code = Error.Types.Code.VersionNotManaged };
                }
                else
                {
                    message.Message0 = (await _dispatcher.DispatchAsync(item.Message0, pending.Origin, counter, deadline.Token).ConfigureAwait(false)).Reply;
                }
                reply.Messages_.Add(message);
            }
            return reply;
        }).ContinueWith(done => OnPoller(() =>
        {
            pending.Reply = done.IsCompletedSuccessfully ? done.Result : null;
            _busyPeers.Remove(pending.Peer);
            Send(pending);
            Pump();
        }), TaskScheduler.Default);
    }

    /// <summary>Handles a group of command requests: settles an unknown earlier outcome first, then stages and commits.</summary>
    private void StartGroup(List<PendingRequest> group)
    {
        foreach (var pending in group)
        {
            _busyPeers.Add(pending.Peer);
        }
        _writeInFlight = true;
        if (!_store.NeedsCatchUp)
        {
            DispatchGroup(group);
            return;
        }
        _ = _store.CatchUpAsync(CancellationToken.None).ContinueWith(done => OnPoller(() =>
        {
            var caughtUp = done.Result;
            if (caughtUp.Events is { } events)
            {
                _store.ApplyCaughtUp(events);
                DispatchGroup(group);
                return;
            }
            foreach (var pending in group)
            {
                pending.Reply = Refuse(pending, caughtUp.Error!);
            }
            FinishGroup(group);
        }), TaskScheduler.Default);
    }

    private void DispatchGroup(List<PendingRequest> group)
    {
        var writes = new List<MessageV0>();
        using var deadline = new CancellationTokenSource(_storeTimeout);
        foreach (var pending in group)
        {
            pending.Reply = Dispatch(pending, deadline.Token, out var groupWrites);
            writes.AddRange(groupWrites);
        }
        var commit = _store.BeginCommit();
        if (commit is null)
        {
            FinishGroup(group);
            return;
        }
        _ = Task.Run(() => _store.AppendAsync(commit, CancellationToken.None)).ContinueWith(done => OnPoller(() =>
        {
            var error = _store.CompleteCommit(commit, done.Result);
            if (error is not null)
            {
                _log.Error("Group of {Count} requests not stored: {Error}", group.Count, error);
                foreach (var v0 in writes)
                {
                    v0.Response.Status = new MessageV0.Types.Status
                    {
                        Status_ = false,
                        Error = new MessageV0.Types.Error { Description = error },
                    };
                }
            }
            else
            {
                _log.Debug("Committed {Events} events for a group of {Count} requests", commit.Batch.Count, group.Count);
            }
            FinishGroup(group);
        }), TaskScheduler.Default);
    }

    private void FinishGroup(List<PendingRequest> group)
    {
        _writeInFlight = false;
        foreach (var pending in group)
        {
            _busyPeers.Remove(pending.Peer);
            Send(pending);
        }
        if (_shutdownRequested())
        {
            _log.Information("Shutdown requested through the API");
        }
        Pump();
    }

    /// <summary>Runs <paramref name="action"/> on the API thread; a failure is logged, never lost.</summary>
    private void OnPoller(Action action) =>
        Task.Factory.StartNew(() =>
        {
            var pollerContext = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(null);
            try
            {
                action();
            }
            catch (Exception ex)
            {
                _log.Error(ex, "Unexpected failure while completing requests");
                _writeInFlight = false;
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(pollerContext);
            }
        }, CancellationToken.None, TaskCreationOptions.None, _poller);

    /// <summary>Dispatches every item of a request in order; <paramref name="writes"/> gets the successful write replies.</summary>
    private Messages Dispatch(PendingRequest pending, CancellationToken cancellationToken, out List<MessageV0> writes)
    {
        writes = [];
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
                var (v0, isWrite) = Wait(_dispatcher.DispatchAsync(item.Message0, pending.Origin, RequestCounter, cancellationToken));
                message.Message0 = v0;
                if (isWrite && v0.Response.Status.Status_)
                {
                    writes.Add(v0);
                }
            }

            reply.Messages_.Add(message);
        }
        return reply;
    }

    /// <summary>The reply of a request refused as a whole before dispatch: every item fails with <paramref name="error"/>.</summary>
    private static Messages Refuse(PendingRequest pending, string error)
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
                message.Message0 = new MessageV0 { Response = MessageDispatcher.Failure(error) };
                if (item.Message0.HasMessageId)
                {
                    message.Message0.MessageId = item.Message0.MessageId;
                }
            }
            reply.Messages_.Add(message);
        }
        return reply;
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

        var kind = opened.Reply is null ? MessageDispatcher.KindOf(opened.Items) : RequestKind.Query;
        return new PendingRequest(envelope, opened, origin, Convert.ToHexString(frames[0].ToByteArray()), kind);
    }

    private void Send(PendingRequest pending)
    {
        byte[] body;
        try
        {
            body = pending.Opened.Reply is { } refused
                ? refused.ToByteArray()
                : pending.Reply is { } reply ? _envelope.Encode(reply, pending.Opened.Encrypted) : RequestEnvelope.ErrorReply(Error.Types.Code.InternalError).ToByteArray();
        }
        catch (Exception ex)
        {
            _log.Error(ex, "Could not encode the reply to {Origin}", pending.Origin);
            body = RequestEnvelope.ErrorReply(Error.Types.Code.InternalError).ToByteArray();
        }
        if (_log.IsEnabled(LogEventLevel.Debug))
        {
            _log.Debug("Reply to {Origin}: {Reply}", pending.Origin, pending.Reply?.ToString() ?? pending.Opened.Reply?.ToString());
        }
        var message = new NetMQMessage(pending.Envelope);
        message.Append(body);
        _replies.Send(pending.Peer, message, pending.Origin);
        Metrics?.ObserveRequest(pending.Opened.Items, pending.Reply, pending.Opened.Reply is not null, pending.Received);
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

    private sealed class PendingRequest(List<NetMQFrame> envelope, OpenedRequest opened, string origin, string peer, RequestKind kind)
    {
        public List<NetMQFrame> Envelope { get; } = envelope;

        public OpenedRequest Opened { get; } = opened;

        public string Origin { get; } = origin;

        /// <summary>The routing id, as the key of the peer's ordering.</summary>
        public string Peer { get; } = peer;

        public RequestKind Kind { get; } = kind;

        /// <summary>When it was received (a <see cref="System.Diagnostics.Stopwatch"/> timestamp), for the latency metric.</summary>
        public long Received { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

        /// <summary>The clear reply built for dispatched messages (before encoding).</summary>
        public Messages? Reply { get; set; }
    }
}
