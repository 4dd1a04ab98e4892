using System.Runtime.CompilerServices;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// A view of one <c>struct rte_mbuf</c> with named accessors for the fields the packet stages
/// read and write, at the offsets the shim reports (<see cref="MbufLayout"/>), so the forwarder
/// reads <c>m.DataLength</c> instead of pointer arithmetic. A 64-bit value type over the mbuf's
/// address: copying it copies the pointer, never the packet.
/// Thread: whoever owns the mbuf (the packet thread, or a test over a fake one).
/// </summary>
internal readonly unsafe struct Mbuf
{
    private readonly byte* _p;

    public Mbuf(nint address) => _p = (byte*)address;

    /// <summary>The mbuf's address, as DPDK's burst functions take it.</summary>
    public nint Address => (nint)_p;

    /// <summary>Start of the data buffer (buf_addr).</summary>
    public byte* Buffer
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => *(byte**)(_p + MbufLayout.BufAddr);
    }

    /// <summary>Size of the data buffer (buf_len).</summary>
    public ushort BufferLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => *(ushort*)(_p + MbufLayout.BufLen);
    }

    /// <summary>Offset of the frame's first byte in the buffer (data_off): the headroom.</summary>
    public ushort DataOffset
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => *(ushort*)(_p + MbufLayout.DataOff);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => *(ushort*)(_p + MbufLayout.DataOff) = value;
    }

    /// <summary>Bytes of the frame in this (first) segment (data_len).</summary>
    public ushort DataLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => *(ushort*)(_p + MbufLayout.DataLen);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => *(ushort*)(_p + MbufLayout.DataLen) = value;
    }

    /// <summary>Bytes of the whole frame over every segment (pkt_len).</summary>
    public uint PacketLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => *(uint*)(_p + MbufLayout.PktLen);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => *(uint*)(_p + MbufLayout.PktLen) = value;
    }

    /// <summary>Number of segments (nb_segs); 1 for a frame in one buffer.</summary>
    public ushort Segments
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => *(ushort*)(_p + MbufLayout.NbSegs);
    }

    /// <summary>Offload flags (ol_flags): what the guest asked of us, or what we ask of the port.</summary>
    public ulong OffloadFlags
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => *(ulong*)(_p + MbufLayout.OlFlags);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => *(ulong*)(_p + MbufLayout.OlFlags) = value;
    }

    /// <summary>The first byte of the frame.</summary>
    public byte* Data
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Buffer + DataOffset;
    }

    /// <summary>The frame's bytes in this (first) segment.</summary>
    public Span<byte> Head
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(Data, DataLength);
    }

    /// <summary>The room from the frame's first byte to the end of the buffer.</summary>
    public Span<byte> Room
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(Data, BufferLength - DataOffset);
    }

    /// <summary>The frame is now <paramref name="length"/> bytes in one segment (data_len and pkt_len).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetLength(int length)
    {
        DataLength = (ushort)length;
        PacketLength = (uint)length;
    }
}
