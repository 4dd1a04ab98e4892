using Butterfly.Cli.Events;

namespace Butterfly.Cli.Tests;

public class TimeSpecTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    private static ulong Ms(DateTimeOffset t) => (ulong)t.ToUnixTimeMilliseconds();

    [Theory]
    [InlineData("2026-11-26T10:00:00Z", 0)]
    [InlineData("2026-11-26t09:00:00z", -3600)]
    [InlineData("2026-11-26 10:00:00Z", 0)]
    [InlineData("2026-11-26T12:00:00+02:00", 0)]
    [InlineData("2026-11-26T09:59:59.5Z", -0.5)]
    [InlineData("-30s", -30)]
    [InlineData("-15m", -900)]
    [InlineData("-2h", -7200)]
    [InlineData("-1d", -86400)]
    [InlineData("-1w", -604800)]
    [InlineData("now", 0)]
    public void Parses_times(string text, double secondsFromNow)
    {
        Assert.True(TimeSpec.TryParse(text, Now, out var point, out var error), error);
        Assert.Null(point.Sequence);
        Assert.Equal(Ms(Now.AddSeconds(secondsFromNow)), point.UnixMs);
    }

    [Theory]
    [InlineData("0", 0UL)]
    [InlineData("42", 42UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    public void Parses_sequence_numbers(string text, ulong expected)
    {
        Assert.True(TimeSpec.TryParse(text, Now, out var point, out _));
        Assert.Equal(expected, point.Sequence);
        Assert.Null(point.UnixMs);
    }

    [Theory]
    [InlineData("")]
    [InlineData("yesterday")]
    [InlineData("2026-11-26T10:00:00")]
    [InlineData("2026-11-26")]
    [InlineData("2026-13-26T10:00:00Z")]
    [InlineData("15m")]
    [InlineData("-15")]
    [InlineData("-15y")]
    [InlineData("+15m")]
    [InlineData("-99999999999d")]
    [InlineData("1969-12-31T23:59:59Z")]
    [InlineData("18446744073709551616")]
    public void Rejects_anything_else_with_a_reason(string text)
    {
        Assert.False(TimeSpec.TryParse(text, Now, out _, out var error));
        Assert.NotEmpty(error);
    }
}
