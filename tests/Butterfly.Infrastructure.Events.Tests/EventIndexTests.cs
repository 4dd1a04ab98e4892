using Butterfly.Infrastructure.Events.FileLog;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>
/// The event index keeps only the block being filled in memory: full blocks go to an unnamed
/// file in the log directory and are read back through a cursor.
/// </summary>
public sealed class EventIndexTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("bft-index-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static long Expected(long sequence) => EventIndex.Entry((int)(sequence % 3), sequence * 40, (ushort)(sequence * 7));

    private static void Fill(EventIndex index, long count)
    {
        Span<ushort> one = stackalloc ushort[1];
        for (var sequence = index.LastSequence + 1; sequence <= count; sequence++)
        {
            one[0] = (ushort)(sequence * 7);
            index.Add((int)(sequence % 3), sequence * 40, one);
        }
    }

    [Fact]
    public void Full_blocks_leave_memory_for_the_index_file_and_read_back_in_any_order()
    {
        var file = Native.TryOpenTemporary(_directory, out var whyNot);
        Assert.True(file is not null, whyNot);
        using var index = new EventIndex(file);
        var count = (3 * EventIndex.BlockSize) + 123;
        Fill(index, count);

        Assert.True(index.OnDisk);
        Assert.Equal(0, index.BlocksInMemory);
        Assert.Equal(3L * EventIndex.BlockSize * sizeof(long), RandomAccess.GetLength(file));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_directory)); // unnamed: nothing to clean up

        var view = index.Snapshot();
        Assert.Equal(count, view.Count);
        var entries = view.Open();
        for (long sequence = 1; sequence <= count; sequence++)
        {
            Assert.Equal(Expected(sequence), entries.Entry(sequence));
        }
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var sequence = random.NextInt64(1, count + 1);
            Assert.Equal(Expected(sequence), entries.Entry(sequence));
        }
    }

    [Fact]
    public void A_view_taken_before_its_block_went_to_the_file_still_reads_it()
    {
        using var index = new EventIndex(Native.TryOpenTemporary(_directory, out _));
        Fill(index, EventIndex.BlockSize - 1);
        var before = index.Snapshot();
        Fill(index, (2 * EventIndex.BlockSize) + 5);

        var entries = before.Open();
        Assert.Equal(EventIndex.BlockSize - 1, before.Count);
        for (long sequence = 1; sequence <= before.Count; sequence++)
        {
            Assert.Equal(Expected(sequence), entries.Entry(sequence));
        }
    }

    [Fact]
    public void Without_an_index_file_every_block_stays_in_memory()
    {
        using var index = new EventIndex(null);
        Fill(index, (2 * EventIndex.BlockSize) + 1);

        Assert.False(index.OnDisk);
        Assert.Equal(2, index.BlocksInMemory);
        var entries = index.Snapshot().Open();
        Assert.Equal(Expected(1), entries.Entry(1));
        Assert.Equal(Expected((2 * EventIndex.BlockSize) + 1), entries.Entry((2 * EventIndex.BlockSize) + 1));
    }

    [Fact]
    public void Blocks_the_file_refuses_stay_in_memory_and_adding_never_fails()
    {
        // A descriptor open read-only: every pwrite fails (EBADF), as one on a full disk does
        // (FileLogDiskFullTests: the same on a full tmpfs, and the retry once there is room).
        var path = Path.Combine(_directory, "index");
        File.WriteAllBytes(path, []);
        using var index = new EventIndex(File.OpenHandle(path, FileMode.Open, FileAccess.Read));
        Fill(index, (2 * EventIndex.BlockSize) + 1);

        Assert.Equal(2, index.BlocksInMemory);
        var entries = index.Snapshot().Open();
        for (long sequence = 1; sequence <= index.LastSequence; sequence++)
        {
            Assert.Equal(Expected(sequence), entries.Entry(sequence));
        }
    }
}
