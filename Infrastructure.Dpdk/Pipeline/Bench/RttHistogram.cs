using System.Numerics;

namespace Butterfly.Infrastructure.Dpdk.Pipeline.Bench;

/// <summary>
/// Round-trip times of a BENCH probe: count, sum, min and max exactly, and a log-linear
/// histogram (HdrHistogram's layout: 32 buckets per power of two, exact below 64 ns) for the
/// 99th percentile, within 1/32 (3.1 %) of the true value and never below it. Nanoseconds,
/// from 1 ns to about 18 minutes; longer values count in the last bucket.
/// Thread: one writer (the packet thread, <see cref="Add"/>), readers anywhere: each figure is
/// an aligned 64-bit value read atomically, not all of them together (a reading may be one
/// sample behind in some figures). Allocated once; adding allocates nothing.
/// </summary>
internal sealed class RttHistogram
{
    private const int SubBucketBits = 5;
    private const int SubBuckets = 1 << SubBucketBits;

    /// <summary>Buckets up to 2^40 ns.</summary>
    private const int BucketCount = (40 - SubBucketBits + 1) * SubBuckets + SubBuckets;

    private readonly ulong[] _buckets = new ulong[BucketCount];
    private ulong _count;
    private ulong _sum;
    private ulong _min = ulong.MaxValue;
    private ulong _max;

    /// <summary>Samples added.</summary>
    public ulong Count => Volatile.Read(ref _count);

    /// <summary>Records one round trip of <paramref name="nanoseconds"/>. Writer only.</summary>
    public void Add(ulong nanoseconds)
    {
        var i = Math.Min(IndexOf(nanoseconds), BucketCount - 1);
        Volatile.Write(ref _buckets[i], _buckets[i] + 1);
        Volatile.Write(ref _sum, _sum + nanoseconds);
        if (nanoseconds < _min)
        {
            Volatile.Write(ref _min, nanoseconds);
        }
        if (nanoseconds > _max)
        {
            Volatile.Write(ref _max, nanoseconds);
        }
        Volatile.Write(ref _count, _count + 1);
    }

    /// <summary>min, mean, max and the 99th percentile in nanoseconds, or null before the first sample. Any thread.</summary>
    public (double Min, double Mean, double Max, double P99)? Summary()
    {
        var count = Volatile.Read(ref _count);
        if (count == 0)
        {
            return null;
        }
        var max = Volatile.Read(ref _max);
        return (Volatile.Read(ref _min), (double)Volatile.Read(ref _sum) / count, max, Math.Min(Percentile(0.99), max));
    }

    /// <summary>The upper end of the bucket holding the sample of rank ⌈q·n⌉.</summary>
    private double Percentile(double q)
    {
        ulong total = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            total += Volatile.Read(ref _buckets[i]);
        }
        var rank = (ulong)Math.Ceiling(q * total);
        ulong seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += Volatile.Read(ref _buckets[i]);
            if (seen >= rank && seen > 0)
            {
                return UpperOf(i);
            }
        }
        return UpperOf(BucketCount - 1);
    }

    internal static int IndexOf(ulong value)
    {
        if (value < 2 * SubBuckets)
        {
            return (int)value;
        }
        var shift = 63 - BitOperations.LeadingZeroCount(value) - SubBucketBits;
        return ((shift + 1) * SubBuckets) + (int)(value >> shift) - SubBuckets;
    }

    /// <summary>The largest value bucket <paramref name="index"/> holds.</summary>
    internal static ulong UpperOf(int index)
    {
        if (index < 2 * SubBuckets)
        {
            return (ulong)index;
        }
        var shift = (index / SubBuckets) - 1;
        var mantissa = (ulong)((index % SubBuckets) + SubBuckets);
        return ((mantissa + 1) << shift) - 1;
    }
}
