using System.Buffers.Binary;
using System.Globalization;
using Butterfly.Application.Ports;
using Serilog;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// Snapshots as files <c>snapshot-&lt;sequence:20 digits&gt;.snap</c> next to the log, newest last
/// in name order. Layout (little-endian):
/// <code>
/// "BFLYSNP1" sequence:i64 utcTicks:i64 length:i32 crc:u32 json[length]
/// crc = CRC-32C(sequence ++ utcTicks ++ length ++ json)
/// </code>
/// A snapshot is written to a .tmp file, fdatasync'ed, renamed over its final name and the
/// directory fsync'ed, so after a crash it is either whole or absent. Only the newest
/// <see cref="Keep"/> are kept; a damaged one is skipped in favour of the next older one.
/// </summary>
internal sealed class SnapshotFiles(string directory, int keep, ILogger log)
{
    private const string Prefix = "snapshot-";
    private const string Suffix = ".snap";
    private const string TempSuffix = ".tmp";
    private const int HeaderSize = 8 + 8 + 8 + 4 + 4;

    private static ReadOnlySpan<byte> Magic => "BFLYSNP1"u8;

    private readonly Lock _writeGate = new();

    public int Keep { get; } = keep;

    /// <summary>
    /// Start-up housekeeping: removes temporary files of interrupted saves. (A snapshot newer
    /// than the log is not housekeeping: the open refuses such a log, see <see cref="LogVerifier"/>.)
    /// </summary>
    public void Recover()
    {
        foreach (var temp in Directory.EnumerateFiles(directory, Prefix + "*" + Suffix + TempSuffix))
        {
            File.Delete(temp);
        }
    }

    /// <summary>The newest snapshot file of <paramref name="directory"/> by name (sequence 0 and no name when none).</summary>
    /// <remarks>The name is evidence enough: a snapshot is written only after its sequence was durable in the log.</remarks>
    public static (long Sequence, string? Name) Newest(string directory)
    {
        var all = List(directory);
        return all.Count == 0 ? (0, null) : (all[^1].Sequence, Path.GetFileName(all[^1].Path));
    }

    public void Save(StoredSnapshot snapshot)
    {
        var json = EventBatches.StrictUtf8.GetBytes(snapshot.DataJson);
        var content = new byte[HeaderSize + json.Length];
        Magic.CopyTo(content);
        BinaryPrimitives.WriteInt64LittleEndian(content.AsSpan(8), snapshot.Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(content.AsSpan(16), snapshot.Timestamp.UtcTicks);
        BinaryPrimitives.WriteInt32LittleEndian(content.AsSpan(24), json.Length);
        json.CopyTo(content, HeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(content.AsSpan(28), Checksum(content));

        var path = PathOf(snapshot.Sequence);
        var temp = path + TempSuffix;
        lock (_writeGate)
        {
            try
            {
                using (var file = File.OpenHandle(temp, FileMode.Create, FileAccess.Write))
                {
                    RandomAccess.Write(file, content, 0);
                    Native.DataSync(file, temp);
                }
                File.Move(temp, path, overwrite: true);
            }
            catch
            {
                // E.g. a full disk: a partial snapshot must not keep the space the log needs.
                File.Delete(temp);
                throw;
            }
            Native.SyncDirectory(directory);
            Prune();
        }
    }

    /// <summary>The newest intact snapshot at or before <paramref name="atOrBeforeSequence"/>, or null.</summary>
    public StoredSnapshot? Load(long atOrBeforeSequence)
    {
        var all = List(directory);
        for (var i = all.Count - 1; i >= 0; i--)
        {
            var (sequence, path) = all[i];
            if (sequence > atOrBeforeSequence)
            {
                continue;
            }
            byte[] content;
            try
            {
                content = File.ReadAllBytes(path);
            }
            catch (FileNotFoundException)
            {
                // Pruned by a concurrent save between the listing and the read.
                continue;
            }
            var problem = Decode(content, sequence, out var snapshot);
            if (problem is null)
            {
                return snapshot;
            }
            log.Warning("Snapshot {Path} is damaged ({Problem}); using an older one", path, problem);
        }
        return null;
    }

    private static string? Decode(byte[] content, long expectedSequence, out StoredSnapshot? snapshot)
    {
        snapshot = null;
        if (content.Length < HeaderSize || !content.AsSpan(0, 8).SequenceEqual(Magic))
        {
            return "not a snapshot file";
        }
        var sequence = BinaryPrimitives.ReadInt64LittleEndian(content.AsSpan(8));
        var ticks = BinaryPrimitives.ReadInt64LittleEndian(content.AsSpan(16));
        var length = BinaryPrimitives.ReadInt32LittleEndian(content.AsSpan(24));
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(content.AsSpan(28));
        if (length != content.Length - HeaderSize)
        {
            return "length mismatch";
        }
        if (crc != Checksum(content))
        {
            return "checksum mismatch";
        }
        if (sequence != expectedSequence || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return "header does not match its file name";
        }
        try
        {
            snapshot = new StoredSnapshot(sequence, new DateTimeOffset(ticks, TimeSpan.Zero),
                EventBatches.StrictUtf8.GetString(content, HeaderSize, length));
            return null;
        }
        catch (System.Text.DecoderFallbackException)
        {
            return "invalid UTF-8";
        }
    }

    private static uint Checksum(byte[] content) =>
        Crc32C.Append(Crc32C.Compute(content.AsSpan(8, 20)), content.AsSpan(HeaderSize));

    /// <summary>Deletes all but the newest <see cref="Keep"/> snapshots.</summary>
    private void Prune()
    {
        var all = List(directory);
        for (var i = 0; i < all.Count - Keep; i++)
        {
            File.Delete(all[i].Path);
        }
    }

    /// <summary>Snapshot files in ascending sequence order.</summary>
    private static List<(long Sequence, string Path)> List(string directory)
    {
        var found = new List<(long, string)>();
        foreach (var path in Directory.EnumerateFiles(directory, Prefix + "*" + Suffix))
        {
            var name = Path.GetFileName(path);
            var digits = name.AsSpan(Prefix.Length, name.Length - Prefix.Length - Suffix.Length);
            if (long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            {
                found.Add((sequence, path));
            }
        }
        found.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return found;
    }

    private string PathOf(long sequence) =>
        Path.Combine(directory, Prefix + sequence.ToString("D20", CultureInfo.InvariantCulture) + Suffix);
}
