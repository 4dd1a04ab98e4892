using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// DPDK's Environment Abstraction Layer: initialised once per process (DPDK cannot do it twice,
/// not even after rte_eal_cleanup), from the control thread.
/// </summary>
public static class DpdkEal
{
    private static int _initialised;

    /// <summary>Prints EAL's own usage (`butterflyd --dpdk-help`) and exits the process with 0.</summary>
    public static void PrintHelpAndExit()
    {
        // EAL prints its usage and calls exit(0) itself when it parses --help.
        Console.Out.Flush();
        Init([EalArguments.ProgramName, "--help"]);
        Environment.Exit(0);
    }

    /// <summary>
    /// Starts EAL with <paramref name="argv"/>. The calling thread is first restricted to
    /// <paramref name="controlCpus"/> (when not empty): EAL computes the CPUs of its control
    /// threads from the caller's affinity and pins the caller to the main lcore, so this keeps
    /// both off the packet thread's CPU.
    /// </summary>
    /// <exception cref="InvalidOperationException">EAL was already initialised, or refused the arguments.</exception>
    internal static void Initialize(string[] argv, IReadOnlyList<int> controlCpus)
    {
        if (Interlocked.Exchange(ref _initialised, 1) != 0)
        {
            throw new InvalidOperationException("DPDK's EAL can be initialised only once per process and already was");
        }
        if (controlCpus.Count > 0)
        {
            Libc.SetThreadAffinity(controlCpus);
        }
        var ret = Init(argv);
        if (ret < 0)
        {
            throw new InvalidOperationException(
                $"DPDK EAL initialisation failed: {Shim.Error(ret)}; EAL arguments: {string.Join(' ', argv)}");
        }
    }

    private static unsafe int Init(string[] argv)
    {
        var strings = new byte[argv.Length][];
        var handles = new System.Runtime.InteropServices.GCHandle[argv.Length];
        var pointers = new byte*[argv.Length];
        try
        {
            for (var i = 0; i < argv.Length; i++)
            {
                strings[i] = Shim.Utf8Z(argv[i]);
                handles[i] = System.Runtime.InteropServices.GCHandle.Alloc(strings[i], System.Runtime.InteropServices.GCHandleType.Pinned);
                pointers[i] = (byte*)handles[i].AddrOfPinnedObject();
            }
            fixed (byte** p = pointers)
            {
                return Shim.bf_eal_init(argv.Length, p);
            }
        }
        finally
        {
            foreach (var h in handles)
            {
                if (h.IsAllocated)
                {
                    h.Free();
                }
            }
        }
    }
}
