using System.Runtime.InteropServices;

namespace Butterfly.Api.Zmq.Server.Transport;

/// <summary>What became of a message offered to the socket without waiting.</summary>
internal enum SendResult
{
    Sent,

    /// <summary>The peer is over its high-water mark (it does not read): try again later.</summary>
    Full,

    /// <summary>No peer has that routing id any more (ROUTER_MANDATORY).</summary>
    Gone,
}

/// <summary>One message as received: its frames, and who sent it as the connection tells.</summary>
/// <param name="Frames">Every frame, the ROUTER's routing id first.</param>
/// <param name="PeerAddress">The TCP peer's IP address (libzmq's <c>Peer-Address</c> property), or null.</param>
/// <param name="UserId">What the ZAP handler said the peer is (<c>User-Id</c>: the client's CURVE public key in Z85), or null.</param>
internal sealed record ZmqReceived(List<byte[]> Frames, string? PeerAddress, string? UserId);

/// <summary>
/// A libzmq socket, used from one thread at a time (the API loop's, or the opener's before the
/// loop runs). Receives and sends never block: the loop polls.
/// </summary>
internal sealed unsafe class ZmqSocket : IDisposable
{
    private IntPtr _handle;

    public ZmqSocket(IntPtr context, int type)
    {
        _handle = LibZmq.Socket(context, type);
        if (_handle == IntPtr.Zero)
        {
            throw new InvalidOperationException($"zmq_socket: {LibZmq.LastError()}");
        }
    }

    public IntPtr Handle => _handle != IntPtr.Zero ? _handle : throw new ObjectDisposedException(nameof(ZmqSocket));

    public void SetInt(int option, int value) => LibZmq.SetInt(Handle, option, value);

    public void SetLong(int option, long value) => LibZmq.SetLong(Handle, option, value);

    public void SetBytes(int option, ReadOnlySpan<byte> value) => LibZmq.SetBytes(Handle, option, value);

    /// <summary>Binds; returns libzmq's reason when it cannot.</summary>
    public string? Bind(string endpoint) => LibZmq.Bind(Handle, endpoint) == 0 ? null : LibZmq.LastError();

    /// <summary>The next whole message, or null when none is waiting.</summary>
    public ZmqReceived? TryReceive()
    {
        LibZmq.Message message;
        List<byte[]>? frames = null;
        string? peerAddress = null;
        string? userId = null;
        while (true)
        {
            _ = LibZmq.MessageInit(&message);
            // The frames of a message arrive together: only the first can find nothing there.
            if (LibZmq.MessageReceive(&message, Handle, LibZmq.DontWait) < 0)
            {
                var error = LibZmq.Errno();
                _ = LibZmq.MessageClose(&message);
                if (frames is null && (error == LibZmq.EAgain || error == LibZmq.ETerm))
                {
                    return null;
                }
                throw new InvalidOperationException($"zmq_msg_recv: {LibZmq.ErrorText(error)}");
            }
            try
            {
                var size = (int)LibZmq.MessageSize(&message);
                var frame = new byte[size];
                new ReadOnlySpan<byte>(LibZmq.MessageData(&message), size).CopyTo(frame);
                (frames ??= []).Add(frame);
                // The routing id the ROUTER prepends carries no metadata; the peer's frames do.
                peerAddress ??= Property(&message, "Peer-Address");
                userId ??= Property(&message, "User-Id");
                if (LibZmq.MessageMore(&message) == 0)
                {
                    return new ZmqReceived(frames, peerAddress, userId);
                }
            }
            finally
            {
                _ = LibZmq.MessageClose(&message);
            }
        }
    }

    /// <summary>Sends every frame as one message, without waiting.</summary>
    public SendResult TrySend(IReadOnlyList<byte[]> frames)
    {
        for (var i = 0; i < frames.Count; i++)
        {
            var flags = LibZmq.DontWait | (i < frames.Count - 1 ? LibZmq.SndMore : 0);
            int sent;
            fixed (byte* p = frames[i])
            {
                sent = LibZmq.Send(Handle, p, (nuint)frames[i].Length, flags);
            }
            if (sent >= 0)
            {
                continue;
            }
            var error = LibZmq.Errno();
            // A ROUTER decides on the routing-id frame; once that is taken the rest always is.
            if (i == 0 && error == LibZmq.EAgain)
            {
                return SendResult.Full;
            }
            if (i == 0 && error == LibZmq.EHostUnreach)
            {
                return SendResult.Gone;
            }
            throw new InvalidOperationException($"zmq_send: {LibZmq.ErrorText(error)}");
        }
        return SendResult.Sent;
    }

    private static string? Property(LibZmq.Message* message, string name)
    {
        var value = LibZmq.MessageGets(message, name);
        return value is null ? null : Marshal.PtrToStringUTF8((IntPtr)value);
    }

    public void Dispose()
    {
        if (_handle != IntPtr.Zero)
        {
            _ = LibZmq.Close(_handle);
            _handle = IntPtr.Zero;
        }
    }
}
