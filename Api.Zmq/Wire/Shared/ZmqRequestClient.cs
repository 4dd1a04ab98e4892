namespace Butterfly.Wire;

/// <summary>How a request through <see cref="ZmqRequestClient.Exchange"/> ended.</summary>
internal enum ExchangeStatus
{
    /// <summary>The reply is there.</summary>
    Replied,

    /// <summary>The request could not be handed to ZeroMQ within the time allowed.</summary>
    NotSent,

    /// <summary>No reply within the time allowed (the socket has been replaced, ready for the next request).</summary>
    NoReply,
}

/// <summary>
/// A ZeroMQ REQ client of the Butterfly API over libzmq (<see cref="LibZmq"/>): one frame out,
/// one frame back, as the wire contract requires; a CURVE client when given keys. A request is
/// a send and a receive on the caller's thread, bounded by <c>ZMQ_SNDTIMEO</c> /
/// <c>ZMQ_RCVTIMEO</c>. A REQ socket whose reply never came cannot send again, so it is
/// replaced by a new one before <see cref="ExchangeStatus.NoReply"/> is returned (a late reply
/// to the old socket is dropped with it). Linger 0: closing never waits for the daemon.
/// Not thread-safe: one client per thread.
/// </summary>
internal sealed unsafe class ZmqRequestClient : IDisposable
{
    private const int SendTimeout = 28;
    private const int ReceiveTimeout = 27;

    private readonly string _endpoint;
    private readonly byte[]? _serverKey;
    private readonly byte[]? _publicKey;
    private readonly byte[]? _secretKey;
    private IntPtr _context;
    private IntPtr _socket;

    /// <summary>Connects (ZeroMQ connects lazily: a daemon that is not there yet is not an error).</summary>
    /// <param name="endpoint">tcp://HOST:PORT, ipc://PATH, …</param>
    /// <param name="serverKey">With CURVE: the daemon's public key (32 bytes); null for a clear connection.</param>
    /// <param name="publicKey">With CURVE: this client's public key.</param>
    /// <param name="secretKey">With CURVE: this client's secret key.</param>
    /// <exception cref="InvalidOperationException">libzmq refused the endpoint or an option (its reason in the message).</exception>
    /// <exception cref="DllNotFoundException">libzmq (libzmq.so.5) is not installed.</exception>
    public ZmqRequestClient(string endpoint, byte[]? serverKey = null, byte[]? publicKey = null, byte[]? secretKey = null)
    {
        _endpoint = endpoint;
        _serverKey = serverKey;
        _publicKey = publicKey;
        _secretKey = secretKey;
        _context = LibZmq.ContextNew();
        if (_context == IntPtr.Zero)
        {
            throw new InvalidOperationException($"zmq_ctx_new: {LibZmq.LastError()}");
        }
        try
        {
            _socket = Open();
        }
        catch
        {
            _ = LibZmq.ContextTerm(_context);
            _context = IntPtr.Zero;
            throw;
        }
    }

    public string Endpoint => _endpoint;

    /// <summary>
    /// Sends <paramref name="request"/> and waits for its reply, each step for at most
    /// <paramref name="timeout"/> (null: forever, like the original client).
    /// </summary>
    public ExchangeStatus Exchange(ReadOnlySpan<byte> request, TimeSpan? timeout, out byte[] reply)
    {
        ObjectDisposedException.ThrowIf(_socket == IntPtr.Zero, this);
        reply = [];
        var milliseconds = timeout is { } t ? (int)Math.Clamp(t.TotalMilliseconds, 0, int.MaxValue) : -1;
        LibZmq.SetInt(_socket, SendTimeout, milliseconds);
        LibZmq.SetInt(_socket, ReceiveTimeout, milliseconds);
        int sent;
        fixed (byte* p = request)
        {
            do
            {
                sent = LibZmq.Send(_socket, p, (nuint)request.Length, 0);
            }
            while (sent < 0 && LibZmq.Errno() == LibZmq.EIntr);
        }
        if (sent < 0)
        {
            var error = LibZmq.Errno();
            if (error == LibZmq.EAgain)
            {
                return ExchangeStatus.NotSent;
            }
            throw new InvalidOperationException($"zmq_send: {LibZmq.ErrorText(error)}");
        }

        LibZmq.Message message;
        _ = LibZmq.MessageInit(&message);
        try
        {
            int received;
            do
            {
                received = LibZmq.MessageReceive(&message, _socket, 0);
            }
            while (received < 0 && LibZmq.Errno() == LibZmq.EIntr);
            if (received < 0)
            {
                var error = LibZmq.Errno();
                if (error != LibZmq.EAgain)
                {
                    throw new InvalidOperationException($"zmq_msg_recv: {LibZmq.ErrorText(error)}");
                }
                Reopen();
                return ExchangeStatus.NoReply;
            }
            reply = new ReadOnlySpan<byte>(LibZmq.MessageData(&message), (int)LibZmq.MessageSize(&message)).ToArray();
            // The API answers in one frame; anything after it is read and dropped.
            while (LibZmq.MessageMore(&message) != 0 && LibZmq.MessageReceive(&message, _socket, LibZmq.DontWait) >= 0)
            {
            }
            return ExchangeStatus.Replied;
        }
        finally
        {
            _ = LibZmq.MessageClose(&message);
        }
    }

    public void Dispose()
    {
        if (_socket != IntPtr.Zero)
        {
            _ = LibZmq.Close(_socket);
            _socket = IntPtr.Zero;
        }
        if (_context != IntPtr.Zero)
        {
            _ = LibZmq.ContextTerm(_context);
            _context = IntPtr.Zero;
        }
    }

    private IntPtr Open()
    {
        var socket = LibZmq.Socket(_context, LibZmq.Req);
        if (socket == IntPtr.Zero)
        {
            throw new InvalidOperationException($"zmq_socket: {LibZmq.LastError()}");
        }
        try
        {
            LibZmq.SetInt(socket, LibZmq.Linger, 0);
            if (_serverKey is not null)
            {
                LibZmq.SetBytes(socket, LibZmq.CurveServerKey, _serverKey);
                LibZmq.SetBytes(socket, LibZmq.CurvePublicKey, _publicKey);
                LibZmq.SetBytes(socket, LibZmq.CurveSecretKey, _secretKey);
            }
            if (LibZmq.Connect(socket, _endpoint) != 0)
            {
                throw new InvalidOperationException($"cannot connect to {_endpoint}: {LibZmq.LastError()}");
            }
            return socket;
        }
        catch
        {
            _ = LibZmq.Close(socket);
            throw;
        }
    }

    private void Reopen()
    {
        _ = LibZmq.Close(_socket);
        _socket = IntPtr.Zero;
        _socket = Open();
    }
}
