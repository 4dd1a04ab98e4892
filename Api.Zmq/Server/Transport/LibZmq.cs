using System.Runtime.InteropServices;

namespace Butterfly.Api.Zmq.Server.Transport;

/// <summary>
/// The few libzmq calls the API server makes (Debian's libzmq5, the reference ZeroMQ library).
/// Why libzmq and not NetMQ for the server socket: NetMQ 4.0.4.5 has a CURVE server but no ZAP
/// (any client that knows the server's public key is let in), does not tell which client key or
/// TCP peer sent a message, and has no handshake timeout. libzmq has all three: a ZAP handler on
/// <c>inproc://zeromq.zap.01</c>, the <c>User-Id</c> and <c>Peer-Address</c> message properties,
/// and <c>ZMQ_HANDSHAKE_IVL</c>. Constants are those of zmq.h 4.3.
/// </summary>
internal static unsafe partial class LibZmq
{
    public const string Library = "libzmq.so.5";

    public const int Pair = 0;
    public const int Rep = 4;
    public const int Router = 6;

    public const int Linger = 17;
    public const int RcvMore = 13;
    public const int MaxMsgSize = 22;
    public const int SndHwm = 23;
    public const int RcvHwm = 24;
    public const int RouterMandatory = 33;
    public const int Ipv6 = 42;
    public const int CurveServer = 47;
    public const int CurvePublicKey = 48;
    public const int CurveSecretKey = 49;
    public const int CurveServerKey = 50;
    public const int ZapDomain = 55;
    public const int RouterHandover = 56;
    public const int HandshakeIvl = 66;

    public const int DontWait = 1;
    public const int SndMore = 2;
    public const short PollIn = 1;

    public const int EAgain = 11;
    public const int EIntr = 4;
    public const int EHostUnreach = 113;

    /// <summary>libzmq's ETERM (ZMQ_HAUSNUMERO + 53): the context is being terminated.</summary>
    public const int ETerm = 156384765;

    /// <summary>zmq_msg_t: 64 opaque bytes, pointer-aligned.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    public struct Message
    {
        private readonly IntPtr _align;
    }

    /// <summary>zmq_pollitem_t on Linux: a socket or a file descriptor, and its events.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollItem
    {
        public IntPtr Socket;
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport(Library, EntryPoint = "zmq_version")]
    public static partial void Version(out int major, out int minor, out int patch);

    [LibraryImport(Library, EntryPoint = "zmq_has", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Has(string capability);

    [LibraryImport(Library, EntryPoint = "zmq_ctx_new")]
    public static partial IntPtr ContextNew();

    [LibraryImport(Library, EntryPoint = "zmq_ctx_term")]
    public static partial int ContextTerm(IntPtr context);

    [LibraryImport(Library, EntryPoint = "zmq_socket")]
    public static partial IntPtr Socket(IntPtr context, int type);

    [LibraryImport(Library, EntryPoint = "zmq_close")]
    public static partial int Close(IntPtr socket);

    [LibraryImport(Library, EntryPoint = "zmq_setsockopt")]
    public static partial int SetSocketOption(IntPtr socket, int option, void* value, nuint length);

    [LibraryImport(Library, EntryPoint = "zmq_getsockopt")]
    public static partial int GetSocketOption(IntPtr socket, int option, void* value, nuint* length);

    [LibraryImport(Library, EntryPoint = "zmq_bind", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Bind(IntPtr socket, string endpoint);

    [LibraryImport(Library, EntryPoint = "zmq_msg_init")]
    public static partial int MessageInit(Message* message);

    [LibraryImport(Library, EntryPoint = "zmq_msg_recv")]
    public static partial int MessageReceive(Message* message, IntPtr socket, int flags);

    [LibraryImport(Library, EntryPoint = "zmq_msg_data")]
    public static partial byte* MessageData(Message* message);

    [LibraryImport(Library, EntryPoint = "zmq_msg_size")]
    public static partial nuint MessageSize(Message* message);

    [LibraryImport(Library, EntryPoint = "zmq_msg_more")]
    public static partial int MessageMore(Message* message);

    /// <summary>A metadata property of a received message ("Peer-Address", "User-Id"), or null; valid until the message is closed.</summary>
    [LibraryImport(Library, EntryPoint = "zmq_msg_gets", StringMarshalling = StringMarshalling.Utf8)]
    public static partial byte* MessageGets(Message* message, string property);

    [LibraryImport(Library, EntryPoint = "zmq_msg_close")]
    public static partial int MessageClose(Message* message);

    [LibraryImport(Library, EntryPoint = "zmq_send")]
    public static partial int Send(IntPtr socket, byte* buffer, nuint length, int flags);

    [LibraryImport(Library, EntryPoint = "zmq_poll")]
    public static partial int Poll(PollItem* items, int count, long timeoutMs);

    [LibraryImport(Library, EntryPoint = "zmq_errno")]
    public static partial int Errno();

    [LibraryImport(Library, EntryPoint = "zmq_strerror")]
    private static partial byte* StrError(int error);

    /// <summary>The public key (40 Z85 characters) of a secret key (40 Z85 characters): Curve25519 of the base point.</summary>
    [LibraryImport(Library, EntryPoint = "zmq_curve_public")]
    public static partial int CurvePublic(byte* z85Public, byte* z85Secret);

    /// <summary>libzmq's text for <paramref name="error"/>.</summary>
    public static string ErrorText(int error) => Marshal.PtrToStringUTF8((IntPtr)StrError(error)) ?? $"error {error}";

    /// <summary>The last error of this thread's libzmq call, as text.</summary>
    public static string LastError() => ErrorText(Errno());

    /// <summary>Why libzmq cannot serve the API (not installed, too old, without CURVE), or null when it can.</summary>
    public static string? Unavailable(bool curve)
    {
        try
        {
            Version(out var major, out var minor, out _);
            if (major < 4 || (major == 4 && minor < 2))
            {
                return $"libzmq {major}.{minor} is too old: butterflyd needs 4.2 or later (Debian package libzmq5)";
            }
            return curve && Has("curve") == 0 ? "this libzmq was built without CURVE support" : null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"cannot load libzmq ({Library}; install the Debian package libzmq5): {e.Message}";
        }
    }

    public static void SetInt(IntPtr socket, int option, int value)
    {
        if (SetSocketOption(socket, option, &value, sizeof(int)) != 0)
        {
            throw new InvalidOperationException($"zmq_setsockopt({option}): {LastError()}");
        }
    }

    public static void SetLong(IntPtr socket, int option, long value)
    {
        if (SetSocketOption(socket, option, &value, sizeof(long)) != 0)
        {
            throw new InvalidOperationException($"zmq_setsockopt({option}): {LastError()}");
        }
    }

    public static void SetBytes(IntPtr socket, int option, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            if (SetSocketOption(socket, option, p, (nuint)value.Length) != 0)
            {
                throw new InvalidOperationException($"zmq_setsockopt({option}): {LastError()}");
            }
        }
    }
}
