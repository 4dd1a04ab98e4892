using System.Runtime.InteropServices;
using System.Text;

namespace Butterfly.Api.Zmq.Hosting;

/// <summary>
/// Makes SIGINT, SIGQUIT and SIGHUP reach the daemon's handlers whatever disposition it
/// inherited. A process started in the background by a non-interactive shell
/// (<c>butterflyd &amp;</c> in a script) inherits SIGINT and SIGQUIT ignored, one started under
/// <c>nohup</c> SIGHUP, and the .NET runtime, which installs its signal handlers before Main
/// runs, then leaves them ignored: PosixSignalRegistration never sees them (SIGHUP would then
/// not reload). The runtime's choice is made at start-up, so the fix is to start again: when
/// any is ignored, all three are set back to their default and the process re-executes itself
/// (same program, same arguments, same PID). <see cref="ResetMarker"/> keeps it from doing so
/// twice. The daemon handles all three (stop, stop, reload), so none ever takes the default action.
/// </summary>
internal static partial class Signals
{
    /// <summary>Set in the environment of the re-executed process (and readable there for the log).</summary>
    public const string ResetMarker = "BUTTERFLYD_SIGNALS_RESET";

    private const int Sighup = 1;
    private const int Sigint = 2;
    private const int Sigquit = 3;
    private static readonly IntPtr SigDfl = 0;
    private static readonly IntPtr SigIgn = 1;

    /// <summary>True when this process is the re-executed one.</summary>
    public static bool WereReset => Environment.GetEnvironmentVariable(ResetMarker) == "1";

    /// <summary>Called first thing in Main. Returns (does not re-execute) when nothing is ignored, or when re-executing fails.</summary>
    public static void MakeDeliverable()
    {
        if (WereReset || !OperatingSystem.IsLinux() || (!IsIgnored(Sigint) && !IsIgnored(Sigquit) && !IsIgnored(Sighup)))
        {
            return;
        }
        string[] argv;
        try
        {
            argv = Encoding.UTF8.GetString(File.ReadAllBytes("/proc/self/cmdline")).TrimEnd('\0').Split('\0');
        }
        catch (IOException)
        {
            return;
        }
        _ = SignalRaw(Sigint, SigDfl);
        _ = SignalRaw(Sigquit, SigDfl);
        _ = SignalRaw(Sighup, SigDfl);
        _ = SetEnvRaw(ResetMarker, "1", 1);
        var pointers = new IntPtr[argv.Length + 1];
        try
        {
            for (var i = 0; i < argv.Length; i++)
            {
                pointers[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
            }
            _ = ExecvRaw("/proc/self/exe", pointers);
        }
        finally
        {
            // Only reached when execv failed: carry on without the handlers (SIGTERM still works).
            foreach (var p in pointers)
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }

    /// <summary>Reads the disposition without changing it: the handler is the first member of struct sigaction.</summary>
    private static unsafe bool IsIgnored(int signal)
    {
        // struct sigaction is 152 bytes on x86-64 and arm64 glibc; room to spare.
        var action = stackalloc byte[512];
        return SigactionRaw(signal, null, action) == 0 && *(IntPtr*)action == SigIgn;
    }

    [LibraryImport("libc", EntryPoint = "sigaction")]
    private static unsafe partial int SigactionRaw(int signal, byte* action, byte* old);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial IntPtr SignalRaw(int signal, IntPtr handler);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnvRaw(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "execv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int ExecvRaw(string path, IntPtr[] argv);
}
