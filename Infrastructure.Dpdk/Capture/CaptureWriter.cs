namespace Butterfly.Infrastructure.Dpdk.Capture;

/// <summary>
/// The capture writer: one background thread (<c>bf-capture</c>) that empties every active
/// capture's ring into its file. It never signals or waits for the packet thread: it polls the
/// rings, at once again while they hold frames, every <see cref="IdleMilliseconds"/> otherwise
/// (the rings hold 4 MiB each, so a burst between two looks is absorbed; beyond, the packet
/// thread counts the frames it could not put in as dropped).
/// The set of captures is an immutable array the control thread replaces (<see cref="Add"/>,
/// <see cref="Remove"/>); a capture removed is then stopped by the control thread, which drains
/// it under the capture's own lock, so no frame in the ring is lost.
/// Threads: the writer thread; Add, Remove and Dispose from the control thread.
/// </summary>
internal sealed class CaptureWriter : IDisposable
{
    /// <summary>How long the writer sleeps when no ring held a frame.</summary>
    internal const int IdleMilliseconds = 10;

    private readonly Lock _gate = new();
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _wake = new();
    private NicCapture[] _captures = [];
    private volatile bool _stop;

    public CaptureWriter()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "bf-capture" };
        _thread.Start();
    }

    /// <summary>The writer drains <paramref name="capture"/> from now on. Control thread.</summary>
    public void Add(NicCapture capture)
    {
        lock (_gate)
        {
            Volatile.Write(ref _captures, [.. _captures, capture]);
        }
    }

    /// <summary>The writer no longer drains <paramref name="capture"/> (the caller stops it). Control thread.</summary>
    public void Remove(NicCapture capture)
    {
        lock (_gate)
        {
            Volatile.Write(ref _captures, [.. _captures.Where(c => !ReferenceEquals(c, capture))]);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _wake.Set();
        _thread.Join();
        _wake.Dispose();
    }

    private void Run()
    {
        while (!_stop)
        {
            var any = false;
            foreach (var capture in Volatile.Read(ref _captures))
            {
                any |= capture.Drain();
            }
            if (!any)
            {
                _wake.Wait(IdleMilliseconds);
            }
        }
    }
}
