using System.Buffers.Binary;

namespace Butterfly.Application.Nics;

/// <summary>One side of a tracked TCP connection, for sequence tracking (see the data path's TcpTracker).</summary>
/// <param name="End">One past the highest sequence number this side sent.</param>
/// <param name="Limit">The highest sequence number the other side's ACK and window allow it.</param>
/// <param name="MaxWindow">Its largest advertised window, before scaling.</param>
/// <param name="WindowScale">Window scale shift (low 4 bits) and flags (0x80 known, 0x40 unknown).</param>
/// <param name="State">0 nothing seen, 1 SYN sent, 2 established, 3 FIN sent, 4 FIN acknowledged, 5 reset.</param>
public readonly record struct TcpSideState(uint End, uint Limit, uint MaxWindow, byte WindowScale, byte State);

/// <summary>
/// One tracked connection of a NIC, seen from the NIC: its own address and port, the peer's,
/// the protocol, which way it was opened, and how long it still lives without traffic.
/// Addresses are 16 bytes: IPv6, or IPv4-mapped (::ffff:a.b.c.d) for IPv4 (<paramref name="IsV4"/>).
/// </summary>
public readonly record struct TrackedSession(
    bool IsV4,
    UInt128 Local,
    ushort LocalPort,
    UInt128 Remote,
    ushort RemotePort,
    byte Protocol,
    bool Inbound,
    bool SeenReply,
    uint RemainingMilliseconds,
    TcpSideState Origin,
    TcpSideState Reply);

/// <summary>
/// The nic_export document (MessageV0.FwData.data): a NIC's tracked connections, carried by an
/// orchestrator with a live-migrated VM and given to the NIC on the destination host (the
/// <c>fw_data</c> field of nic_add / nic_update, protocol revision 9), so the VM's established
/// connections keep passing there. Layout, all integers big-endian:
/// <code>
/// offset 0   4  magic "BFWS" (Butterfly firewall sessions)
/// offset 4   2  format version (1)
/// offset 6   2  flags (0; reserved)
/// offset 8   4  session count N
/// offset 12  N × 72-byte records:
///   0   1  IP version (4 or 6)
///   1   1  IP protocol (6 TCP, 17 UDP, 1/58 ICMP echo by identifier, others by addresses)
///   2   1  flags: 0x01 opened toward the NIC (admitted by INBOUND rules), 0x02 traffic seen both ways
///   3   1  reserved (0)
///   4  16  the NIC's address (IPv4: ::ffff:a.b.c.d)
///   20  2  the NIC's port (ICMP echo: the identifier)
///   22 16  the peer's address
///   38  2  the peer's port
///   40  4  lifetime left without traffic, milliseconds
///   44 14  TCP, the opening side: end, limit, max window (4 each), window scale, state (1 each)
///   58 14  TCP, the answering side, the same
/// </code>
/// Version 1 documents written before connection tracking existed carry N = 0, which still
/// reads (and imports nothing). A reader refuses another magic or version, a count that does
/// not match the length, and records it cannot make sense of, naming the record.
/// </summary>
public static class SessionDocument
{
    public const ushort Version = 1;
    public const int HeaderLength = 12;
    public const int RecordLength = 72;

    private const byte FlagInbound = 0x01;
    private const byte FlagSeenReply = 0x02;

    public static ReadOnlySpan<byte> Magic => "BFWS"u8;

    /// <summary>The document holding <paramref name="sessions"/>.</summary>
    public static byte[] Write(IReadOnlyCollection<TrackedSession> sessions)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        var data = new byte[HeaderLength + (sessions.Count * RecordLength)];
        Magic.CopyTo(data);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), (uint)sessions.Count);
        var offset = HeaderLength;
        foreach (var s in sessions)
        {
            var r = data.AsSpan(offset, RecordLength);
            r[0] = s.IsV4 ? (byte)4 : (byte)6;
            r[1] = s.Protocol;
            r[2] = (byte)((s.Inbound ? FlagInbound : 0) | (s.SeenReply ? FlagSeenReply : 0));
            BinaryPrimitives.WriteUInt128BigEndian(r[4..], s.Local);
            BinaryPrimitives.WriteUInt16BigEndian(r[20..], s.LocalPort);
            BinaryPrimitives.WriteUInt128BigEndian(r[22..], s.Remote);
            BinaryPrimitives.WriteUInt16BigEndian(r[38..], s.RemotePort);
            BinaryPrimitives.WriteUInt32BigEndian(r[40..], s.RemainingMilliseconds);
            WriteSide(r[44..], s.Origin);
            WriteSide(r[58..], s.Reply);
            offset += RecordLength;
        }
        return data;
    }

    /// <summary>The sessions of <paramref name="document"/>, or null with <paramref name="error"/> saying what is wrong.</summary>
    public static IReadOnlyList<TrackedSession>? Read(ReadOnlySpan<byte> document, out string? error)
    {
        error = null;
        if (document.Length < HeaderLength || !document[..4].SequenceEqual(Magic))
        {
            error = "fw_data is not a Butterfly session document (no 'BFWS' header)";
            return null;
        }
        var version = BinaryPrimitives.ReadUInt16BigEndian(document[4..]);
        if (version != Version)
        {
            error = $"fw_data has format version {version}; this butterflyd reads version {Version}";
            return null;
        }
        var count = BinaryPrimitives.ReadUInt32BigEndian(document[8..]);
        if ((ulong)document.Length != HeaderLength + ((ulong)count * RecordLength))
        {
            error = $"fw_data claims {count} sessions but holds {document.Length - HeaderLength} bytes of records ({RecordLength} each)";
            return null;
        }
        var sessions = new List<TrackedSession>((int)count);
        for (var i = 0; i < count; i++)
        {
            var r = document.Slice(HeaderLength + (i * RecordLength), RecordLength);
            var family = r[0];
            var local = BinaryPrimitives.ReadUInt128BigEndian(r[4..]);
            var remote = BinaryPrimitives.ReadUInt128BigEndian(r[22..]);
            if (family is not (4 or 6) || (family == 4) != (IsV4Mapped(local) && IsV4Mapped(remote)))
            {
                error = $"fw_data session {i}: IP version {family} does not match its addresses";
                return null;
            }
            if ((r[2] & ~(FlagInbound | FlagSeenReply)) != 0 || r[3] != 0)
            {
                error = $"fw_data session {i}: unknown flags 0x{r[2]:x2}";
                return null;
            }
            sessions.Add(new TrackedSession(family == 4, local, BinaryPrimitives.ReadUInt16BigEndian(r[20..]), remote,
                BinaryPrimitives.ReadUInt16BigEndian(r[38..]), r[1], (r[2] & FlagInbound) != 0, (r[2] & FlagSeenReply) != 0,
                BinaryPrimitives.ReadUInt32BigEndian(r[40..]), ReadSide(r[44..]), ReadSide(r[58..])));
        }
        return sessions;
    }

    private static bool IsV4Mapped(UInt128 address) => address >> 32 == 0xFFFF;

    private static void WriteSide(Span<byte> r, TcpSideState side)
    {
        BinaryPrimitives.WriteUInt32BigEndian(r, side.End);
        BinaryPrimitives.WriteUInt32BigEndian(r[4..], side.Limit);
        BinaryPrimitives.WriteUInt32BigEndian(r[8..], side.MaxWindow);
        r[12] = side.WindowScale;
        r[13] = side.State;
    }

    private static TcpSideState ReadSide(ReadOnlySpan<byte> r) => new(
        BinaryPrimitives.ReadUInt32BigEndian(r), BinaryPrimitives.ReadUInt32BigEndian(r[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(r[8..]), r[12], r[13]);
}
