using System.Buffers.Binary;
using System.Text;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Capture;

/// <summary>Which way a captured frame went, from the switch port's side (pcapng epb_flags bits 0-1).</summary>
internal enum CaptureDirection : byte
{
    /// <summary>Received by the switch: sent by the VM (or the BENCH probe), or arriving on the underlay.</summary>
    Inbound = 1,

    /// <summary>Sent by the switch: delivered to the VM, or leaving on the underlay.</summary>
    Outbound = 2,
}

/// <summary>
/// The pcapng blocks a capture file is made of (draft-ietf-opsawg-pcapng; what tcpdump, libpcap
/// 1.10 and Wireshark read): one Section Header Block, one Interface Description Block (Ethernet,
/// the port's name), then one Enhanced Packet Block per frame. Written in little-endian order,
/// which the byte-order magic announces.
/// <code>
///  Enhanced Packet Block (type 6):
///  +---------------------------------------------------------------+
///  |                    Block Type = 0x00000006                    |
///  |                      Block Total Length                       |
///  |                         Interface ID                          |
///  |                   Timestamp (High, Low), µs                   |
///  |                 Captured Length, Original Length              |
///  |                 Packet Data (padded to 32 bits)               |
///  |  epb_flags (2): direction │ opt_comment (1): the verdict text |
///  |                      opt_endofopt, Block Total Length         |
///  +---------------------------------------------------------------+
/// </code>
/// The verdict of a NIC's frame is the EPB's comment: <c>pass</c>, or <c>drop REASON</c> with the
/// drop reason's snake_case name (<see cref="DropReasons.Name"/>); Wireshark shows it as
/// <c>frame.comment</c>, <c>butterfly nic capture --refused</c> keeps only the dropped ones.
/// Underlay frames carry no verdict. Timestamps are microseconds (the default if_tsresol).
/// Thread: the capture writer's (never the packet thread, which only fills the ring).
/// </summary>
internal static class PcapngFormat
{
    public const uint SectionHeaderType = 0x0A0D0D0A;
    public const uint InterfaceDescriptionType = 1;
    public const uint EnhancedPacketType = 6;
    public const uint ByteOrderMagic = 0x1A2B3C4D;
    public const ushort LinkTypeEthernet = 1;

    public const ushort OptionEnd = 0;
    public const ushort OptionComment = 1;
    public const ushort OptionShbUserApplication = 4;
    public const ushort OptionIfName = 2;
    public const ushort OptionIfDescription = 3;
    public const ushort OptionEpbFlags = 2;

    /// <summary>Type, length, interface, timestamps, lengths, trailing length: an EPB without data or options.</summary>
    public const int EnhancedPacketFixedLength = 32;

    /// <summary>The comment of a frame the firewall (or anti-spoofing) let through.</summary>
    public const string PassComment = "pass";

    /// <summary>The comment of a refused frame starts with this, then the reason.</summary>
    public const string DropCommentPrefix = "drop ";

    /// <summary>Bytes of an option carrying <paramref name="valueLength"/> bytes: code, length, value padded to 32 bits.</summary>
    public static int OptionLength(int valueLength) => 4 + Pad4(valueLength);

    /// <summary><paramref name="length"/> rounded up to a multiple of 4.</summary>
    public static int Pad4(int length) => (length + 3) & ~3;

    /// <summary>
    /// A Section Header Block naming the writer in shb_userappl and, in its comment, the file's
    /// place in the capture (a reader following a rotating capture tells files apart by it).
    /// </summary>
    public static byte[] SectionHeader(string application, string comment)
    {
        var app = Encoding.UTF8.GetBytes(application);
        var note = Encoding.UTF8.GetBytes(comment);
        var length = 28 + OptionLength(app.Length) + OptionLength(note.Length) + 4;
        var block = new byte[length];
        var b = block.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(b, SectionHeaderType);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], ByteOrderMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(b[12..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b[14..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], -1);
        var at = 24;
        at += WriteOption(b[at..], OptionShbUserApplication, app);
        at += WriteOption(b[at..], OptionComment, note);
        at += WriteOption(b[at..], OptionEnd, []);
        BinaryPrimitives.WriteUInt32LittleEndian(b[at..], (uint)length);
        return block;
    }

    /// <summary>An Interface Description Block: Ethernet, <paramref name="snapLength"/>, if_name and if_description.</summary>
    public static byte[] InterfaceDescription(string name, string description, int snapLength)
    {
        var n = Encoding.UTF8.GetBytes(name);
        var d = Encoding.UTF8.GetBytes(description);
        var length = 16 + OptionLength(n.Length) + OptionLength(d.Length) + 4 + 4;
        var block = new byte[length];
        var b = block.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(b, InterfaceDescriptionType);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)length);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], LinkTypeEthernet);
        BinaryPrimitives.WriteUInt16LittleEndian(b[10..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], (uint)snapLength);
        var at = 16;
        at += WriteOption(b[at..], OptionIfName, n);
        at += WriteOption(b[at..], OptionIfDescription, d);
        at += WriteOption(b[at..], OptionEnd, []);
        BinaryPrimitives.WriteUInt32LittleEndian(b[at..], (uint)length);
        return block;
    }

    /// <summary>The length of an EPB with <paramref name="captured"/> bytes of frame and a comment of <paramref name="commentLength"/> bytes (0: none).</summary>
    public static int EnhancedPacketLength(int captured, int commentLength) =>
        EnhancedPacketFixedLength + Pad4(captured) + OptionLength(4) + (commentLength > 0 ? OptionLength(commentLength) : 0) + 4;

    /// <summary>
    /// Writes an EPB for interface 0 into <paramref name="destination"/> (at least
    /// <see cref="EnhancedPacketLength"/> bytes) and returns its length.
    /// </summary>
    public static int WriteEnhancedPacket(Span<byte> destination, ulong timestampMicros, ReadOnlySpan<byte> data, uint originalLength,
        CaptureDirection direction, ReadOnlySpan<byte> comment)
    {
        var length = EnhancedPacketLength(data.Length, comment.Length);
        var b = destination[..length];
        BinaryPrimitives.WriteUInt32LittleEndian(b, EnhancedPacketType);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], (uint)(timestampMicros >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], (uint)timestampMicros);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], Math.Max(originalLength, (uint)data.Length));
        data.CopyTo(b[28..]);
        var at = 28 + data.Length;
        b[at..(28 + Pad4(data.Length))].Clear();
        at = 28 + Pad4(data.Length);
        Span<byte> flags = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(flags, (uint)direction);
        at += WriteOption(b[at..], OptionEpbFlags, flags);
        if (!comment.IsEmpty)
        {
            at += WriteOption(b[at..], OptionComment, comment);
        }
        at += WriteOption(b[at..], OptionEnd, []);
        BinaryPrimitives.WriteUInt32LittleEndian(b[at..], (uint)length);
        return length;
    }

    private static int WriteOption(Span<byte> destination, ushort code, ReadOnlySpan<byte> value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, code);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], (ushort)value.Length);
        value.CopyTo(destination[4..]);
        var padded = Pad4(value.Length);
        destination[(4 + value.Length)..(4 + padded)].Clear();
        return 4 + padded;
    }
}
