using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// The few POSIX calls .NET does not expose: fdatasync (durability of appended data without
/// the extra inode write fsync makes for timestamps), fsync of a directory (so a created or
/// renamed file's name is durable too) and flock (one daemon per log directory).
/// </summary>
internal static partial class Native
{
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int OpenReadOnly = 0;
    private const int OpenReadWrite = 2;
    private const int OpenCreate = 0x40;
    private const int OpenCloseOnExec = 0x80000;

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdatasyncRaw(int fd);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FsyncRaw(int fd);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int FlockRaw(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseRaw(int fd);

    /// <summary>Makes the file's data (and its size) durable; throws <see cref="IOException"/> on failure.</summary>
    public static void DataSync(SafeFileHandle file, string path)
    {
        if (Call(file, FdatasyncRaw) != 0)
        {
            throw Error("fdatasync", path);
        }
    }

    /// <summary>
    /// Takes an exclusive, non-blocking flock on the open file. False when another open file
    /// description (another process, or another open in this one) holds it.
    /// </summary>
    public static bool TryLockExclusive(SafeFileHandle file, string path)
    {
        if (Call(file, static fd => FlockRaw(fd, LockExclusive | LockNonBlocking)) == 0)
        {
            return true;
        }
        var errno = Marshal.GetLastPInvokeError();
        // EWOULDBLOCK (EAGAIN) is 11 on Linux: somebody else holds the lock.
        if (errno == 11)
        {
            return false;
        }
        throw Error("flock", path, errno);
    }

    /// <summary>
    /// Opens a file with open(2) directly. Unlike File.OpenHandle, this takes no flock of its
    /// own, so it can read a file another process holds an exclusive flock on, and the only
    /// lock on the handle is the one <see cref="TryLockExclusive"/> takes.
    /// </summary>
    public static SafeFileHandle OpenFile(string path, bool readWriteCreate)
    {
        var fd = readWriteCreate
            ? OpenRaw(path, OpenReadWrite | OpenCreate | OpenCloseOnExec, Convert.ToInt32("644", 8))
            : OpenRaw(path, OpenReadOnly | OpenCloseOnExec);
        if (fd < 0)
        {
            throw Error("open", path);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// An unnamed file in <paramref name="directory"/> (open(2) with O_TMPFILE: it disappears
    /// with the process, however it ends), or null with the reason (a file system without
    /// O_TMPFILE, permissions).
    /// </summary>
    public static SafeFileHandle? TryOpenTemporary(string directory, out string? whyNot)
    {
        const int TmpFile = 0x410000; // O_TMPFILE (__O_TMPFILE | O_DIRECTORY)
        var fd = OpenRaw(directory, OpenReadWrite | OpenCloseOnExec | TmpFile, Convert.ToInt32("600", 8));
        if (fd < 0)
        {
            whyNot = Error("open", directory + ", O_TMPFILE").Message;
            return null;
        }
        whyNot = null;
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>fsync of a directory, which makes the names created or renamed in it durable.</summary>
    public static void SyncDirectory(string path)
    {
        var fd = OpenRaw(path, OpenReadOnly | OpenCloseOnExec);
        if (fd < 0)
        {
            throw Error("open", path);
        }
        try
        {
            if (FsyncRaw(fd) != 0)
            {
                throw Error("fsync", path);
            }
        }
        finally
        {
            _ = CloseRaw(fd);
        }
    }

    private static int Call(SafeFileHandle file, Func<int, int> call)
    {
        var added = false;
        try
        {
            // Keeps the descriptor from being closed and reused while the call runs.
            file.DangerousAddRef(ref added);
            return call((int)file.DangerousGetHandle());
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    private static IOException Error(string call, string path) => Error(call, path, Marshal.GetLastPInvokeError());

    private static IOException Error(string call, string path, int errno) =>
        new($"{call}({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
}
