using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Butterfly.Api.Zmq.Server.Transport;

/// <summary>
/// The API thread's event loop: one <c>zmq_poll</c> over the libzmq sockets it serves and an
/// eventfd that other threads write to when they <see cref="Post"/> work to it, plus timers.
/// Everything registered runs on the thread that calls <see cref="Run"/>, so the sockets (which
/// libzmq does not let two threads share) are only ever touched there. <see cref="Post"/> and
/// <see cref="Stop"/> may be called from any thread.
/// </summary>
internal sealed unsafe partial class ZmqLoop : IDisposable
{
    private const int EfdNonBlock = 0x800;
    private const int EfdCloexec = 0x80000;

    private readonly int _wake;
    private readonly ConcurrentQueue<Action> _posted = new();
    private readonly List<(IntPtr Socket, Action OnReadable)> _sockets = [];
    private readonly List<LoopTimer> _timers = [];
    private readonly Action<Exception> _onError;
    private volatile bool _stop;
    private volatile bool _running;
    private bool _disposed;

    /// <param name="onError">Told about an exception a handler let through; the loop goes on.</param>
    public ZmqLoop(Action<Exception> onError)
    {
        _onError = onError;
        _wake = EventFd(0, EfdNonBlock | EfdCloexec);
        if (_wake < 0)
        {
            throw new InvalidOperationException($"eventfd failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>True while <see cref="Run"/> is looping.</summary>
    public bool IsRunning => _running;

    /// <summary>Calls <paramref name="onReadable"/> on the loop's thread whenever <paramref name="socket"/> has a message to read.</summary>
    public void Add(IntPtr socket, Action onReadable) => _sockets.Add((socket, onReadable));

    /// <summary>A timer that calls <paramref name="elapsed"/> every <paramref name="interval"/> while enabled (disabled at first).</summary>
    public LoopTimer AddTimer(TimeSpan interval, Action elapsed)
    {
        var timer = new LoopTimer(interval, elapsed);
        _timers.Add(timer);
        return timer;
    }

    /// <summary>Runs <paramref name="action"/> on the loop's thread, soon. Thread-safe.</summary>
    public void Post(Action action)
    {
        _posted.Enqueue(action);
        Wake();
    }

    /// <summary>Makes <see cref="Run"/> return after what it is doing. Thread-safe.</summary>
    public void Stop()
    {
        _stop = true;
        Wake();
    }

    /// <summary>Serves until <see cref="Stop"/>.</summary>
    public void Run()
    {
        var items = new LibZmq.PollItem[_sockets.Count + 1];
        for (var i = 0; i < _sockets.Count; i++)
        {
            items[i] = new LibZmq.PollItem { Socket = _sockets[i].Socket, Events = LibZmq.PollIn };
        }
        items[^1] = new LibZmq.PollItem { Fd = _wake, Events = LibZmq.PollIn };
        _running = true;
        try
        {
            while (!_stop)
            {
                RunPosted();
                if (_stop)
                {
                    break;
                }
                int ready;
                fixed (LibZmq.PollItem* p = items)
                {
                    ready = LibZmq.Poll(p, items.Length, NextTimeoutMs());
                }
                if (ready < 0)
                {
                    var error = LibZmq.Errno();
                    if (error == LibZmq.EIntr)
                    {
                        continue;
                    }
                    if (error == LibZmq.ETerm)
                    {
                        break;
                    }
                    throw new InvalidOperationException($"zmq_poll: {LibZmq.ErrorText(error)}");
                }
                if ((items[^1].REvents & LibZmq.PollIn) != 0)
                {
                    ulong count;
                    _ = Read(_wake, &count, sizeof(ulong));
                }
                for (var i = 0; i < _sockets.Count; i++)
                {
                    if ((items[i].REvents & LibZmq.PollIn) != 0)
                    {
                        Guarded(_sockets[i].OnReadable);
                    }
                }
                RunTimers();
            }
        }
        finally
        {
            _running = false;
        }
    }

    private void RunPosted()
    {
        while (_posted.TryDequeue(out var action))
        {
            Guarded(action);
        }
    }

    private void RunTimers()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var timer in _timers)
        {
            if (timer.Enable && now >= timer.Due)
            {
                timer.Due = now + timer.IntervalTicks;
                Guarded(timer.Elapsed);
            }
        }
    }

    private long NextTimeoutMs()
    {
        if (!_posted.IsEmpty)
        {
            return 0;
        }
        long? due = null;
        foreach (var timer in _timers)
        {
            if (timer.Enable && (due is null || timer.Due < due))
            {
                due = timer.Due;
            }
        }
        if (due is null)
        {
            return -1;
        }
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due.Value);
        return left <= TimeSpan.Zero ? 0 : (long)Math.Ceiling(left.TotalMilliseconds);
    }

    private void Guarded(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e)
        {
            _onError(e);
        }
    }

    private void Wake()
    {
        var one = 1UL;
        _ = Write(_wake, &one, sizeof(ulong));
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _ = CloseFd(_wake);
    }

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "read")]
    private static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write")]
    private static partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseFd(int fd);
}

/// <summary>A timer of <see cref="ZmqLoop"/>: fires on the loop's thread every <see cref="Interval"/> while enabled.</summary>
internal sealed class LoopTimer(TimeSpan interval, Action elapsed)
{
    private bool _enable;

    public TimeSpan Interval { get; } = interval;

    internal long IntervalTicks { get; } = (long)(interval.TotalSeconds * Stopwatch.Frequency);

    internal Action Elapsed { get; } = elapsed;

    internal long Due { get; set; }

    /// <summary>Enabling (re)starts the interval from now. Loop thread only.</summary>
    public bool Enable
    {
        get => _enable;
        set
        {
            if (value && !_enable)
            {
                Due = Stopwatch.GetTimestamp() + IntervalTicks;
            }
            _enable = value;
        }
    }
}
