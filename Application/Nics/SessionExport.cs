using System.Buffers.Binary;

namespace Butterfly.Application.Nics;

/// <summary>
/// The nic_export document (MessageV0.FwData.data): a NIC's firewall sessions, to be imported
/// on the host a VM migrates to. Layout, all integers big-endian:
/// <code>
/// offset 0  4 bytes  magic "BFWS" (Butterfly firewall sessions)
/// offset 4  2 bytes  format version (1)
/// offset 6  2 bytes  flags (0; reserved)
/// offset 8  4 bytes  session count N
/// offset 12 …        N session records (defined with connection tracking; N is 0 until then)
/// </code>
/// Connection tracking does not exist yet, so every export has N = 0: a VM migrated today
/// re-establishes its flows against the destination's rules. The header lets the importer
/// of a later version tell such a document from one carrying sessions.
/// </summary>
public static class SessionExport
{
    public const ushort Version = 1;
    public const int HeaderLength = 12;

    public static ReadOnlySpan<byte> Magic => "BFWS"u8;

    /// <summary>A document with no sessions.</summary>
    public static byte[] Empty()
    {
        var data = new byte[HeaderLength];
        Magic.CopyTo(data);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4), Version);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6), 0);
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(8), 0);
        return data;
    }
}
