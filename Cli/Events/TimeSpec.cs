using System.Globalization;
using System.Text.RegularExpressions;

namespace Butterfly.Cli.Events;

/// <summary>A point in the event log: an event sequence number or a UTC time in ms.</summary>
internal readonly record struct LogPoint(ulong? Sequence, ulong? UnixMs);

/// <summary>
/// Parses the TIME|SEQ arguments of the event-log commands: a sequence number (digits
/// only), an RFC 3339 time with its zone (<c>2026-11-26T10:00:00Z</c>,
/// <c>2026-11-26T12:00:00.5+02:00</c>), <c>now</c>, or a time relative to now
/// (<c>-30s</c>, <c>-15m</c>, <c>-2h</c>, <c>-1d</c>, <c>-1w</c>).
/// </summary>
internal static partial class TimeSpec
{
    public static bool TryParse(string text, DateTimeOffset now, out LogPoint point, out string error)
    {
        point = default;
        error = "";
        if (text.Length > 0 && text.All(char.IsAsciiDigit))
        {
            if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                return Fail($"sequence number '{text}' is too large", out error);
            point = new LogPoint(seq, null);
            return true;
        }

        DateTimeOffset at;
        if (text == "now")
        {
            at = now;
        }
        else if (Relative().Match(text) is { Success: true } rel)
        {
            if (!long.TryParse(rel.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var amount))
                return Fail($"'{text}' is too far back", out error);
            var unit = rel.Groups[2].Value switch
            {
                "s" => TimeSpan.FromSeconds(1),
                "m" => TimeSpan.FromMinutes(1),
                "h" => TimeSpan.FromHours(1),
                "d" => TimeSpan.FromDays(1),
                _ => TimeSpan.FromDays(7),
            };
            if (amount > (now - DateTimeOffset.UnixEpoch).Ticks / unit.Ticks)
                return Fail($"'{text}' is before 1970", out error);
            at = now - (unit * amount);
        }
        else if (Rfc3339().IsMatch(text)
                 && DateTimeOffset.TryParse(text.Replace(' ', 'T'), CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
        {
            at = parsed;
        }
        else
        {
            return Fail($"'{text}' is not a time (RFC 3339 like 2026-11-26T10:00:00Z, or relative like -15m) nor a sequence number", out error);
        }

        if (at < DateTimeOffset.UnixEpoch)
            return Fail($"'{text}' is before 1970", out error);
        point = new LogPoint(null, (ulong)at.ToUnixTimeMilliseconds());
        return true;
    }

    private static bool Fail(string message, out string error)
    {
        error = message;
        return false;
    }

    [GeneratedRegex(@"^-(\d+)([smhdw])$")]
    private static partial Regex Relative();

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339();
}
