using System.Globalization;

namespace Butterfly.Domain.Validation;

/// <summary>Ethernet addresses as the API carries them: <c>52:54:00:00:d7:11</c>, stored lower case.</summary>
public static class MacText
{
    /// <summary>Checks the text form only (six hex pairs separated by ':'); returns it lower case.</summary>
    public static Validated<string> NormaliseFormat(string field, string? value)
    {
        if (string.IsNullOrEmpty(value))
            return Validated.Fail<string>($"{field} is empty: expected six hex pairs separated by ':' like 52:54:00:00:d7:11");
        if (!TryParse(value, out _))
            return Validated.Fail<string>($"{field} '{value}' is not a MAC address: expected six hex pairs separated by ':' like 52:54:00:00:d7:11");
        return Validated.Ok(value.ToLowerInvariant());
    }

    /// <summary>
    /// A NIC's own address must be a unicast one: frames from a multicast or broadcast source
    /// are invalid on Ethernet, and the all-zero address is what unset hardware reports.
    /// </summary>
    public static Validated<string> NormaliseUnicast(string field, string? value)
    {
        if (string.IsNullOrEmpty(value) || !TryParse(value, out var bytes))
            return NormaliseFormat(field, value);
        if (bytes.All(b => b == 0xff))
            return Validated.Fail<string>($"{field} '{value}' is the broadcast address: a NIC needs a unicast MAC");
        if ((bytes[0] & 1) != 0)
            return Validated.Fail<string>($"{field} '{value}' is a multicast address (lowest bit of the first byte set): a NIC needs a unicast MAC");
        if (bytes.All(b => b == 0))
            return Validated.Fail<string>($"{field} '{value}' is all zeros: a NIC needs a real unicast MAC");
        return Validated.Ok(value.ToLowerInvariant());
    }

    private static bool TryParse(string value, out byte[] bytes)
    {
        bytes = new byte[6];
        if (value.Length != 17)
            return false;
        for (var i = 0; i < 6; i++)
        {
            if (i > 0 && value[(i * 3) - 1] != ':')
                return false;
            var pair = value.AsSpan(i * 3, 2);
            if (!char.IsAsciiHexDigit(pair[0]) || !char.IsAsciiHexDigit(pair[1]))
                return false;
            bytes[i] = byte.Parse(pair, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }

        return true;
    }
}
