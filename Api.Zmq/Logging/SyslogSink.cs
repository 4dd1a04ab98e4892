using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace Butterfly.Api.Zmq.Logging;

/// <summary>
/// A Serilog sink that sends each event as one RFC 3164 datagram to the local syslog
/// socket (/dev/log), as glibc's syslog(3) does: <c>&lt;PRI&gt;Mmm dd hh:mm:ss TAG[PID]: MSG</c>,
/// facility LOCAL0 like the original daemon. When the socket is missing or refuses a
/// datagram, events go to stderr instead and that is said once. Runs on the logging
/// thread (control path only; the packet path never logs).
/// </summary>
internal sealed class SyslogSink : ILogEventSink, IDisposable
{
    /// <summary>LOCAL0, the facility the original butterflyd used (so rsyslog rules keep working).</summary>
    public const int FacilityLocal0 = 16;

    /// <summary>rsyslog's default maximum message size; longer messages are cut, not dropped.</summary>
    private const int MaxDatagramBytes = 8192;

    /// <summary>While the socket is unusable, how often sending is tried again.</summary>
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(30);

    private readonly string _socketPath;
    private readonly string _tag;
    private readonly ITextFormatter _formatter;
    private readonly ITextFormatter _fallbackFormatter;
    private readonly TextWriter _fallback;
    private readonly Lock _lock = new();
    private Socket? _socket;
    private bool _fallbackAnnounced;
    private long _retryAtTicks;

    /// <param name="socketPath">The syslog socket, normally /dev/log.</param>
    /// <param name="tag">The program name syslog shows.</param>
    /// <param name="formatter">Renders the message part of a datagram.</param>
    /// <param name="fallbackFormatter">Renders a whole line for <paramref name="fallback"/>.</param>
    /// <param name="fallback">Where events go while the socket is unusable (stderr).</param>
    public SyslogSink(string socketPath, string tag, ITextFormatter formatter, ITextFormatter fallbackFormatter, TextWriter fallback)
    {
        _socketPath = socketPath;
        _tag = tag;
        _formatter = formatter;
        _fallbackFormatter = fallbackFormatter;
        _fallback = fallback;
    }

    /// <summary>RFC 5424 severity of a Serilog level.</summary>
    public static int Severity(LogEventLevel level) => level switch
    {
        LogEventLevel.Fatal => 2,
        LogEventLevel.Error => 3,
        LogEventLevel.Warning => 4,
        LogEventLevel.Information => 6,
        _ => 7,
    };

    /// <summary>The datagram for one message (exposed for tests).</summary>
    public static byte[] Format(LogEventLevel level, DateTimeOffset time, string tag, int pid, string message)
    {
        var pri = (FacilityLocal0 * 8) + Severity(level);
        // RFC 3164 timestamp: English month, day padded with a space, local time.
        var stamp = time.ToLocalTime().ToString("MMM d HH:mm:ss", CultureInfo.InvariantCulture);
        if (time.ToLocalTime().Day < 10)
        {
            stamp = stamp.Insert(4, " ");
        }

        var text = $"<{pri}>{stamp} {tag}[{pid}]: {message.TrimEnd('\n', '\r')}";
        var bytes = Encoding.UTF8.GetBytes(text);
        return bytes.Length <= MaxDatagramBytes ? bytes : bytes[..MaxDatagramBytes];
    }

    public void Emit(LogEvent logEvent)
    {
        lock (_lock)
        {
            if (Environment.TickCount64 >= _retryAtTicks)
            {
                using var writer = new StringWriter(CultureInfo.InvariantCulture);
                _formatter.Format(logEvent, writer);
                var datagram = Format(logEvent.Level, logEvent.Timestamp, _tag, Environment.ProcessId, writer.ToString());
                if (TrySend(datagram))
                {
                    return;
                }

                _retryAtTicks = Environment.TickCount64 + (long)RetryInterval.TotalMilliseconds;
            }

            _fallbackFormatter.Format(logEvent, _fallback);
            _fallback.Flush();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _socket?.Dispose();
            _socket = null;
        }
    }

    private bool TrySend(byte[] datagram)
    {
        // One reconnect per event covers a syslog daemon that restarted since the last send.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            try
            {
                _socket ??= Connect();
                _socket.Send(datagram);
                _fallbackAnnounced = false;
                return true;
            }
            catch (SocketException e)
            {
                _socket?.Dispose();
                _socket = null;
                if (attempt == 1)
                {
                    AnnounceFallback(e.Message);
                }
            }
        }

        return false;
    }

    private Socket Connect()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(_socketPath));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private void AnnounceFallback(string reason)
    {
        if (_fallbackAnnounced)
        {
            return;
        }

        _fallbackAnnounced = true;
        _fallback.WriteLine($"butterflyd: syslog socket {_socketPath} is unusable ({reason}); logging to stderr instead");
    }
}
