using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// An exclusive flock on DIR/LOCK, held for as long as the store is open, so two daemons can
/// never append to the same log (their sequences would collide). The kernel drops the lock
/// when the process dies, so a crash never leaves a stale lock behind. The holder's pid is
/// written into the file only to make the refusal message useful.
/// </summary>
internal sealed class DirectoryLock : IDisposable
{
    public const string FileName = "LOCK";

    private readonly SafeFileHandle _handle;

    private DirectoryLock(SafeFileHandle handle) => _handle = handle;

    /// <summary>Takes the lock or throws an <see cref="IOException"/> that says who holds it.</summary>
    public static DirectoryLock Acquire(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var handle = Native.OpenFile(path, readWriteCreate: true);
        try
        {
            if (!Native.TryLockExclusive(handle, path))
            {
                throw new IOException(InUseMessage(directory, path));
            }
            var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
            RandomAccess.SetLength(handle, 0);
            RandomAccess.Write(handle, pid, 0);
            return new DirectoryLock(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static string InUseMessage(string directory, string path)
    {
        var holder = "";
        try
        {
            // Not File.ReadAllText: .NET would try a shared flock, which the holder's exclusive one refuses.
            using var file = Native.OpenFile(path, readWriteCreate: false);
            var buffer = new byte[32];
            var n = RandomAccess.Read(file, buffer, 0);
            holder = System.Text.Encoding.ASCII.GetString(buffer, 0, n).Trim();
        }
        catch (IOException)
        {
            // The pid is only a hint for the message.
        }
        return $"event log {directory} is in use by another process{(holder.Length > 0 ? $" (pid {holder})" : "")}: " +
            "two daemons cannot share one event log";
    }

    /// <summary>Closing the descriptor releases the flock.</summary>
    public void Dispose() => _handle.Dispose();
}
