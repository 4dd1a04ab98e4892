using System.Net;
using System.Text;
using Butterfly.Api.Zmq.Server.Curve;
using Butterfly.Api.Zmq.Server.Transport;
using Butterfly.Application;
using Butterfly.Application.Configuration;
using Butterfly.Wire;
using Google.Protobuf;
using Serilog;
using Serilog.Events;

namespace Butterfly.Api.Zmq.Server;

/// <summary>
/// The API's ZeroMQ server. A libzmq ROUTER socket speaks to REQ clients (libzmq, pyzmq, NetMQ):
/// the frames up to and including the empty delimiter are the REQ envelope, echoed back in
/// front of the reply, and the frame after it is one serialized <c>proto.Messages</c>. With
/// <see cref="CurveSecurity"/> the socket is a CURVE server: only clients whose public key the
/// <see cref="ZapHandler"/> finds in the allow-list get through the handshake, clear clients never
/// do. Every request carries who sent it (<see cref="RequestOrigin"/>: the connection's routing id,
/// the TCP peer's address, the CURVE key), recorded with the events it causes.
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
/// (the API thread, <see cref="ZmqLoop"/>); <see cref="Stop"/> may be called from any thread.
/// </summary>
internal sealed class ApiServer : IDisposable
{
    /// <summary>Most requests handled per commit; bounds the latency one group adds to the next.</summary>
    public const int MaxGroup = 256;

    /// <summary>
    /// Frames above this are dropped by libzmq with the connection (ZMQ_MAXMSGSIZE) so that a
    /// hostile peer cannot make the daemon buffer without bound; requests
    /// between <see cref="WireProtocol.MaxRequestBytes"/> and this get a PARSE_ERROR reply.
    /// </summary>
    public const long MaxFrameBytes = 4L * WireProtocol.MaxRequestBytes;

    /// <summary>A TCP connection that has not completed the ZeroMQ handshake by then is closed (libzmq's ZMQ_HANDSHAKE_IVL).</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Replies still unsent when the socket closes (the app_quit one) get this long to leave.</summary>
    private static readonly TimeSpan Linger = TimeSpan.FromSeconds(2);

    private readonly string _endpoint;
    private readonly RequestEnvelope _envelope;
    private readonly MessageDispatcher _dispatcher;
    private readonly ConfigurationStore _store;
    private readonly Func<bool> _shutdownRequested;
    private readonly ILogger _log;
    private readonly TimeSpan _storeTimeout;
    private readonly CurveSecurity? _curve;
    private readonly IntPtr _context;
    private readonly ZmqLoop _loop;
    private readonly ZapHandler? _zap;
    private readonly ZmqSocket _router;
    private readonly ReplySender _replies;
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
    /// <param name="curve">CURVE: the server's keys and the clients let in; null for a clear API.</param>
    /// <exception cref="InvalidOperationException">libzmq refused to make the sockets.</exception>
    public ApiServer(string endpoint, RequestEnvelope envelope, MessageDispatcher dispatcher, ConfigurationStore store, Func<bool> shutdownRequested,
        ILogger log, TimeSpan? storeTimeout = null, CurveSecurity? curve = null)
    {
        _endpoint = endpoint;
        _envelope = envelope;
        _dispatcher = dispatcher;
        _store = store;
        _shutdownRequested = shutdownRequested;
        _log = log;
        _storeTimeout = storeTimeout ?? store.WriteTimeout;
        _curve = curve;
        _context = LibZmq.ContextNew();
        if (_context == IntPtr.Zero)
        {
            throw new InvalidOperationException($"zmq_ctx_new: {LibZmq.LastError()}");
        }
        _loop = new ZmqLoop(e => _log.Error(e, "Unexpected failure on the API thread"));
        // The handler is bound before the API socket exists, so no CURVE handshake ever finds none.
        _zap = curve is null ? null : new ZapHandler(_context, curve, log);
        _router = new ZmqSocket(_context, LibZmq.Router);
        _router.SetLong(LibZmq.MaxMsgSize, MaxFrameBytes);
        // Keep unsent replies (the app_quit one) for a moment when the socket closes.
        _router.SetInt(LibZmq.Linger, (int)Linger.TotalMilliseconds);
        // A client that reconnects with the identity it had gets it (the stale connection loses it).
        _router.SetInt(LibZmq.RouterHandover, 1);
        // Room for clients that pipeline many requests before reading their replies.
        _router.SetInt(LibZmq.SndHwm, 100_000);
        _router.SetInt(LibZmq.RcvHwm, 100_000);
        // A peer that connects and never completes the handshake does not hold a connection forever.
        _router.SetInt(LibZmq.HandshakeIvl, (int)HandshakeTimeout.TotalMilliseconds);
        if (curve is not null)
        {
            _router.SetInt(LibZmq.CurveServer, 1);
            _router.SetBytes(LibZmq.CurveSecretKey, curve.SecretKey);
        }
        _loop.Add(_router.Handle, OnReceiveReady);
        if (_zap is not null)
        {
            _loop.Add(_zap.Socket, _zap.OnReadable);
        }
        _replies = new ReplySender(_router, _loop, log);
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
            var colon = _endpoint.LastIndexOf(':');
            var host = _endpoint["tcp://".Length..colon];
            // libzmq needs a dual-stack socket for IPv6 endpoints; IPv4-only is its default.
            _router.SetInt(LibZmq.Ipv6, host.StartsWith('[') ? 1 : 0);
            var error = _router.Bind($"tcp://{BindableHost(host)}{_endpoint[colon..]}");
            return error is null ? null : $"cannot bind the API endpoint {_endpoint}: {error}";
        }
        catch (Exception e)
        {
            return $"cannot bind the API endpoint {_endpoint}: {e.Message}";
        }
    }

    /// <summary>
    /// libzmq binds addresses and interface names, not host names: a name is resolved here (its
    /// first IPv4 address, else its first one), as NetMQ did.
    /// </summary>
    private static string BindableHost(string host)
    {
        if (host == "*" || host.StartsWith('[') || IPAddress.TryParse(host, out _))
        {
            return host;
        }
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            var address = addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
            return address is null ? host : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        }
        catch (System.Net.Sockets.SocketException)
        {
            // Perhaps an interface name, which libzmq resolves itself.
            return host;
        }
    }

    /// <summary>Serves until <see cref="Stop"/> is called or app_quit was answered.</summary>
    public void Run()
    {
        _log.Information(_curve is null ? "API listening on {Endpoint}" : "API listening on {Endpoint} with CURVE (server key {ServerKey}, {Clients} client keys allowed from {Source})",
            _endpoint, _curve?.PublicKeyZ85, _curve?.Allowed.Count, _curve?.Allowed.Source);
        // A Stop() that came before the loop ran is honoured by this first task.
        _loop.Post(StopIfRequested);
        _loop.Run();
        _log.Information("API stopped");
    }

    /// <summary>Stops serving once the commit in flight (if any) has been answered. Thread-safe.</summary>
    public void Stop()
    {
        _stopRequested = true;
        _loop.Post(StopIfRequested);
    }

    private void StopIfRequested()
    {
        if ((_stopRequested || _shutdownRequested()) && !_writeInFlight)
        {
            _loop.Stop();
        }
    }

    /// <summary>Closes the sockets; the last replies (app_quit's) get <see cref="Linger"/> to leave.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _replies.Dispose();
        _zap?.Dispose();
        _router.Dispose();
        _loop.Dispose();
        _ = LibZmq.ContextTerm(_context);
    }

    private void OnReceiveReady()
    {
        var taken = 0;
        while (taken++ < 4 * MaxGroup && _router.TryReceive() is { } received)
        {
            Interlocked.Increment(ref _requestCounter);
            _waiting.AddLast(Accept(received));
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
        // Handlers are awaited synchronously here, so a continuation posted back to this
        // (blocked) thread would never run: without a context, continuations go to the thread
        // pool instead.
        var loopContext = SynchronizationContext.Current;
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
            SynchronizationContext.SetSynchronizationContext(loopContext);
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
        _loop.Post(() =>
        {
            try
            {
                action();
            }
            catch (Exception ex)
            {
                _log.Error(ex, "Unexpected failure while completing requests");
                _writeInFlight = false;
            }
        });

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

    private PendingRequest Accept(ZmqReceived received)
    {
        var frames = received.Frames;
        // REQ envelope: [routing id][...][empty delimiter][body]. A DEALER peer that sends
        // no delimiter gets its reply framed the same way as it asked: [routing id][body].
        var delimiter = -1;
        for (var i = 1; i < frames.Count; i++)
        {
            if (frames[i].Length == 0)
            {
                delimiter = i;
                break;
            }
        }

        var bodyStart = delimiter < 0 ? 1 : delimiter + 1;
        var envelope = frames.GetRange(0, Math.Min(bodyStart, frames.Count));
        var origin = new RequestOrigin(Origin(frames[0]), null) { PeerAddress = received.PeerAddress, ClientKey = received.UserId };
        OpenedRequest opened;
        if (_curve is not null && (received.UserId is null || !_curve.Allowed.Contains(received.UserId)))
        {
            // Let in by an earlier allow-list: its key was removed since (SIGHUP), so it is served no more.
            opened = OpenedRequest.Refused(
                RequestEnvelope.ErrorReply(Error.Types.Code.Rejected),
                $"CURVE client key {received.UserId ?? "(none)"} is no longer in the allow-list ({_curve.Allowed.Source})");
        }
        else if (frames.Count - bodyStart != 1)
        {
            opened = OpenedRequest.Refused(
                RequestEnvelope.ErrorReply(Error.Types.Code.ParseError),
                $"expected one body frame after the envelope, got {frames.Count - bodyStart}");
        }
        else
        {
            opened = _envelope.Open(frames[bodyStart]);
        }

        if (opened.Problem is not null)
        {
            _log.Warning("Request from {Origin} refused: {Problem}", origin.Describe(), opened.Problem);
        }
        else if (_log.IsEnabled(LogEventLevel.Debug))
        {
            _log.Debug("Request from {Origin}: {Request}", origin.Describe(), new Messages { Messages_ = { opened.Items } }.ToString());
        }

        var kind = opened.Reply is null ? MessageDispatcher.KindOf(opened.Items) : RequestKind.Query;
        return new PendingRequest(envelope, opened, origin, Convert.ToHexString(frames[0]), kind);
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
            _log.Error(ex, "Could not encode the reply to {Origin}", pending.Origin.Describe());
            body = RequestEnvelope.ErrorReply(Error.Types.Code.InternalError).ToByteArray();
        }
        if (_log.IsEnabled(LogEventLevel.Debug))
        {
            _log.Debug("Reply to {Origin}: {Reply}", pending.Origin.Describe(), pending.Reply?.ToString() ?? pending.Opened.Reply?.ToString());
        }
        _replies.Send(pending.Peer, [.. pending.Envelope, body], pending.Origin.Describe());
        Metrics?.ObserveRequest(pending.Opened.Items, pending.Reply, pending.Opened.Reply is not null, pending.Received);
    }

    /// <summary>
    /// The connection a request came on, as the event log's origin records it: the bound
    /// endpoint and the ROUTER routing id (the client's own identity when it set one, text if
    /// printable). The peer's address and CURVE key are recorded beside it (<see cref="RequestOrigin"/>).
    /// </summary>
    private string Origin(byte[] id)
    {
        var printable = id.Length > 0 && id[0] != 0 && id.All(b => b is >= 0x20 and < 0x7f);
        var text = printable ? Encoding.ASCII.GetString(id) : Convert.ToHexStringLower(id);
        return $"{_endpoint} peer {text}";
    }

    private static T Wait<T>(ValueTask<T> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    private sealed class PendingRequest(List<byte[]> envelope, OpenedRequest opened, RequestOrigin origin, string peer, RequestKind kind)
    {
        public List<byte[]> Envelope { get; } = envelope;

        public OpenedRequest Opened { get; } = opened;

        /// <summary>Who sent it; the dispatcher adds the message id and the request's name.</summary>
        public RequestOrigin Origin { get; } = origin;

        /// <summary>The routing id, as the key of the peer's ordering.</summary>
        public string Peer { get; } = peer;

        public RequestKind Kind { get; } = kind;

        /// <summary>When it was received (a <see cref="System.Diagnostics.Stopwatch"/> timestamp), for the latency metric.</summary>
        public long Received { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

        /// <summary>The clear reply built for dispatched messages (before encoding).</summary>
        public Messages? Reply { get; set; }
    }
}
