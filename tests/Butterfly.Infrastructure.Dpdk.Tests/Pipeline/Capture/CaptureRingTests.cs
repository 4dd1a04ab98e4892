using System.Buffers.Binary;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;

namespace Butterfly.Infrastructure.Dpdk.Tests.Pipeline.Capture;

/// <summary>The single-producer single-consumer ring between the packet thread and the capture writer.</summary>
public class CaptureRingTests
{
    [Fact]
    public void Records_come_out_in_order_with_their_bytes_cut_at_the_snap_length()
    {
        using var ring = new CaptureRing(4096, snapLength: 16);
        var small = Enumerable.Range(1, 10).Select(i => (byte)i).ToArray();
        var big = Enumerable.Range(0, 100).Select(i => (byte)(200 - i)).ToArray();

        Assert.True(ring.Write(small, 10, 111, CaptureDirection.Inbound, 0));
        Assert.True(ring.Write(big, 1500, 222, CaptureDirection.Outbound, 42));

        Assert.True(ring.TryPeek(out var first));
        Assert.Equal(small, first.Data.ToArray());
        Assert.Equal(10u, first.OriginalLength);
        Assert.Equal(111, first.Timestamp);
        Assert.Equal(CaptureDirection.Inbound, first.Direction);
        Assert.Equal(0, first.Verdict);
        ring.Release(first);
        Assert.True(ring.TryPeek(out var second));
        Assert.Equal(big[..16], second.Data.ToArray());
        Assert.Equal(1500u, second.OriginalLength);
        Assert.Equal(CaptureDirection.Outbound, second.Direction);
        Assert.Equal(42, second.Verdict);
        ring.Release(second);
        Assert.False(ring.TryPeek(out _));
        Assert.Equal(2UL, ring.Written);
        Assert.Equal(0UL, ring.Dropped);
    }

    [Fact]
    public void A_full_ring_drops_and_counts_instead_of_waiting_and_takes_frames_again_once_read()
    {
        using var ring = new CaptureRing(4096, snapLength: 1000);
        var frame = new byte[1000];
        var written = 0;
        while (ring.Write(frame, 1000, 0, CaptureDirection.Inbound, 0))
        {
            written++;
        }

        // 1024-byte records: four fit in 4 KiB; the fifth is refused and counted.
        Assert.Equal(4, written);
        Assert.Equal(1UL, ring.Dropped);
        Assert.False(ring.Write(frame, 1000, 0, CaptureDirection.Inbound, 0));
        Assert.Equal(2UL, ring.Dropped);

        Assert.True(ring.TryPeek(out var record));
        ring.Release(record);
        Assert.True(ring.Write(frame, 1000, 0, CaptureDirection.Inbound, 0));
        Assert.Equal(5UL, ring.Written);
    }

    [Fact]
    public void Staged_records_stay_invisible_until_published_and_their_verdicts_can_change_meanwhile()
    {
        using var ring = new CaptureRing(4096, snapLength: 64);
        var frame = new byte[60];

        var first = ring.Stage(frame, 60, 1, CaptureDirection.Outbound, 0);
        var second = ring.Stage(frame, 60, 2, CaptureDirection.Outbound, 0);
        Assert.True(first >= 0 && second > first);
        Assert.False(ring.TryPeek(out _));
        Assert.Equal(0UL, ring.Written);

        ring.SetVerdict(second, 77);
        ring.Publish();

        Assert.Equal(2UL, ring.Written);
        Assert.True(ring.TryPeek(out var a));
        Assert.Equal(0, a.Verdict);
        Assert.Equal(1, a.Timestamp);
        ring.Release(a);
        Assert.True(ring.TryPeek(out var b));
        Assert.Equal(77, b.Verdict);
        Assert.Equal(2, b.Timestamp);
        ring.Release(b);
        Assert.False(ring.TryPeek(out _));
    }

    [Fact]
    public void Staging_into_a_full_ring_is_refused_and_counted_and_what_was_staged_before_still_publishes()
    {
        using var ring = new CaptureRing(4096, snapLength: 1000);
        var frame = new byte[1000];
        var offsets = Enumerable.Range(0, 5).Select(_ => ring.Stage(frame, 1000, 0, CaptureDirection.Outbound, 0)).ToArray();

        // 1024-byte records: four fit in 4 KiB, staged or not; the fifth is refused.
        Assert.All(offsets[..4], o => Assert.True(o >= 0));
        Assert.Equal(-1, offsets[4]);
        Assert.Equal(1UL, ring.Dropped);
        ring.SetVerdict(offsets[3], 9);
        ring.Publish();

        var verdicts = new List<byte>();
        while (ring.TryPeek(out var record))
        {
            verdicts.Add(record.Verdict);
            ring.Release(record);
        }
        Assert.Equal(new byte[] { 0, 0, 0, 9 }, verdicts);
        Assert.Equal(4UL, ring.Written);
    }

    [Fact]
    public void Records_of_every_size_survive_many_wraps_of_the_buffer()
    {
        using var ring = new CaptureRing(4096, snapLength: 600);
        var next = 0;
        var expected = 0;
        var frame = new byte[600];
        for (var round = 0; round < 2000; round++)
        {
            // Write a few records of changing sizes, read some: the head and tail cross the end at every offset.
            for (var k = 0; k < 3; k++)
            {
                var length = 4 + ((next * 37) % 597);
                BinaryPrimitives.WriteInt32LittleEndian(frame, next);
                frame.AsSpan(4, length - 4).Fill((byte)next);
                if (ring.Write(frame.AsSpan(0, length), (uint)length, next, CaptureDirection.Inbound, (byte)(next % 200)))
                {
                    next++;
                }
            }
            for (var k = 0; k < 2 + (round % 3); k++)
            {
                if (!ring.TryPeek(out var record))
                {
                    break;
                }
                AssertRecord(record, expected++);
                ring.Release(record);
            }
        }
        while (ring.TryPeek(out var record))
        {
            AssertRecord(record, expected++);
            ring.Release(record);
        }
        Assert.Equal(next, expected);
        Assert.True(next > 3000, $"only {next} records went through");
    }

    [Fact]
    public void A_producer_and_a_consumer_on_two_threads_lose_nothing_they_do_not_count()
    {
        using var ring = new CaptureRing(16384, snapLength: 256);
        const int Frames = 200_000;
        var done = false;
        var consumed = 0UL;
        Exception? failure = null;
        var consumer = new Thread(() =>
        {
            try
            {
                var last = -1;
                while (true)
                {
                    // Read the flag first: once it is set, a failed peek means every record was seen.
                    var finished = Volatile.Read(ref done);
                    if (!ring.TryPeek(out var record))
                    {
                        if (finished)
                        {
                            return;
                        }
                        Thread.Yield();
                        continue;
                    }
                    var seq = BinaryPrimitives.ReadInt32LittleEndian(record.Data);
                    if (seq <= last || record.Data.Length != 8 + (seq % 200) || record.Data[^1] != (byte)seq)
                    {
                        throw new InvalidOperationException($"record {seq} ({record.Data.Length} bytes) after record {last}");
                    }
                    last = seq;
                    consumed++;
                    ring.Release(record);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        consumer.Start();
        var frame = new byte[256];
        for (var i = 0; i < Frames; i++)
        {
            var length = 8 + (i % 200);
            BinaryPrimitives.WriteInt32LittleEndian(frame, i);
            frame[length - 1] = (byte)i;
            ring.Write(frame.AsSpan(0, length), (uint)length, i, CaptureDirection.Inbound, 0);
        }
        Volatile.Write(ref done, true);
        consumer.Join();

        Assert.Null(failure);
        Assert.Equal((ulong)Frames, ring.Written + ring.Dropped);
        Assert.Equal(ring.Written, consumed);
        Assert.True(consumed > 0);
    }

    [Fact]
    public void Writing_a_record_allocates_nothing()
    {
        using var ring = new CaptureRing(1 << 20, snapLength: 2048);
        var frame = new byte[1500];
        var bytes = AllocationTests.Allocated(n =>
        {
            for (var i = 0; i < n; i++)
            {
                ring.Write(frame, 1500, i, CaptureDirection.Outbound, 0);
                if (ring.TryPeek(out var record))
                {
                    ring.Release(record);
                }
            }
        }, 10_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void Sizes_the_ring_cannot_work_with_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CaptureRing(5000, 100));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CaptureRing(4096, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CaptureRing(4096, 4000));
    }

    private static void AssertRecord(CaptureRecord record, int seq)
    {
        Assert.Equal(seq, BinaryPrimitives.ReadInt32LittleEndian(record.Data));
        Assert.Equal(4 + ((seq * 37) % 597), record.Data.Length);
        Assert.Equal((uint)record.Data.Length, record.OriginalLength);
        Assert.Equal(seq, record.Timestamp);
        Assert.Equal((byte)(seq % 200), record.Verdict);
        Assert.All(record.Data[4..].ToArray(), b => Assert.Equal((byte)seq, b));
    }
}
