using System.Runtime.InteropServices;

namespace Butterfly.Infrastructure.Dpdk.Native;

/// <summary>
/// The few libc calls the data path makes directly: CPU affinity (EAL must not land on the
/// packet thread's CPU), the thread id, and the idle back-off's yield and sleep. None is on the per-packet path.
/// </summary>
internal static unsafe class Libc
{
    private const string Lib = "libc";

    /// <summary>Bits in the affinity masks below (glibc's CPU_SETSIZE).</summary>
    internal const int MaxCpus = 1024;


    [DllImport(Lib, EntryPoint = "sched_getaffinity")]
    private static extern int SchedGetAffinity(int pid, nuint size, ulong* mask);

    [DllImport(Lib, EntryPoint = "sched_setaffinity")]
    private static extern int SchedSetAffinity(int pid, nuint size, ulong* mask);

    [DllImport(Lib, EntryPoint = "usleep")]
    internal static extern int USleep(uint microseconds);

    [DllImport(Lib, EntryPoint = "sched_yield")]
    internal static extern int SchedYield();

    [DllImport(Lib, EntryPoint = "gettid")]
    internal static extern int GetTid();

    /// <summary>PRIO_PROCESS: with a thread id, Linux sets that one thread's nice value.</summary>
    private const int PrioProcess = 0;

    [DllImport(Lib, EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, uint who, int priority);

    /// <summary>Sets thread <paramref name="tid"/>'s nice value; null, or the errno text of the refusal.</summary>
    internal static string? SetThreadNice(int tid, int nice) =>
        SetPriority(PrioProcess, (uint)tid, nice) == 0 ? null : Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());

    [DllImport(Lib, EntryPoint = "open", SetLastError = true)]
    private static extern int Open(byte* path, int flags);

    [DllImport(Lib, EntryPoint = "read", SetLastError = true)]
    private static extern nint Read(int fd, byte* buffer, nuint count);

    [DllImport(Lib, EntryPoint = "close")]
    private static extern int Close(int fd);

    /// <summary>
    /// Reads the first bytes of <paramref name="path"/> without following a symbolic link and
    /// without blocking (a FIFO without a writer reads as empty): the byte count, or -errno.
    /// </summary>
    internal static int ReadHead(string path, Span<byte> buffer)
    {
        const int NonBlock = 0x800, CloseOnExec = 0x80000;
        // O_NOFOLLOW differs between architectures (asm-generic vs x86).
        var noFollow = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(path) + 1];
        System.Text.Encoding.UTF8.GetBytes(path, bytes);
        int fd;
        fixed (byte* p = bytes)
        {
            fd = Open(p, NonBlock | CloseOnExec | noFollow);
        }
        if (fd < 0)
        {
            return -Marshal.GetLastPInvokeError();
        }
        try
        {
            fixed (byte* b = buffer)
            {
                var n = Read(fd, b, (nuint)buffer.Length);
                return n < 0 ? -Marshal.GetLastPInvokeError() : (int)n;
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>The CPUs the calling thread may run on, ascending.</summary>
    internal static List<int> GetThreadAffinity()
    {
        var mask = stackalloc ulong[MaxCpus / 64];
        var cpus = new List<int>();
        if (SchedGetAffinity(0, MaxCpus / 8, mask) != 0)
        {
            return cpus;
        }
        for (var cpu = 0; cpu < MaxCpus; cpu++)
        {
            if ((mask[cpu / 64] & (1UL << (cpu % 64))) != 0)
            {
                cpus.Add(cpu);
            }
        }
        return cpus;
    }

    /// <summary>Restricts the calling thread to <paramref name="cpus"/>; false when the kernel refuses.</summary>
    internal static bool SetThreadAffinity(IEnumerable<int> cpus)
    {
        var mask = stackalloc ulong[MaxCpus / 64];
        new Span<ulong>(mask, MaxCpus / 64).Clear();
        foreach (var cpu in cpus)
        {
            if (cpu is >= 0 and < MaxCpus)
            {
                mask[cpu / 64] |= 1UL << (cpu % 64);
            }
        }
        return SchedSetAffinity(0, MaxCpus / 8, mask) == 0;
    }
}
