using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Butterfly.Domain.Validation;

/// <summary>
/// IP addresses as the API carries them: text that must be a plain IPv4 dotted quad or an
/// IPv6 address, stored in canonical form (<c>2001:0db8::0001</c> becomes <c>2001:db8::1</c>)
/// so that equal addresses compare equal and deduplicate.
/// </summary>
public static class IpText
{
    /// <summary>Parses and normalises <paramref name="value"/>; <paramref name="field"/> names it in errors.</summary>
    public static Validated<string> Normalise(string field, string? value)
    {
        var parsed = Parse(field, value);
        return parsed.IsValid ? Validated.Ok(parsed.Value!.ToString()) : Validated.Fail<string>(parsed.Error!);
    }

    /// <summary>
    /// Parses like inet_pton does (what the original daemon accepted), which is stricter than
    /// <see cref="IPAddress.TryParse(string?, out IPAddress?)"/>: no shortened IPv4 ("10.1"),
    /// no leading zeros (read as octal by some tools), no IPv6 scope ("%eth0") or brackets.
    /// </summary>
    public static Validated<IPAddress> Parse(string field, string? value)
    {
        if (string.IsNullOrEmpty(value))
            return Validated.Fail<IPAddress>($"{field} is empty: expected an IPv4 or IPv6 address");
        if (value.Contains(':', StringComparison.Ordinal))
        {
            if (value.AsSpan().IndexOfAny("%[]/ ") >= 0
                || !IPAddress.TryParse(value, out var v6)
                || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                return Validated.Fail<IPAddress>($"{field} '{value}' is not a valid IPv6 address");
            }

            return Validated.Ok(v6);
        }

        return IsStrictDottedQuad(value) && IPAddress.TryParse(value, out var v4)
            ? Validated.Ok(v4)
            : Validated.Fail<IPAddress>(
                $"{field} '{value}' is not a valid IP address: expected IPv4 as four decimal numbers 0-255 without leading zeros (like 10.0.0.1) or an IPv6 address");
    }

    private static bool IsStrictDottedQuad(string value)
    {
        var parts = value.Split('.');
        if (parts.Length != 4)
            return false;
        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0'))
                return false;
            foreach (var c in part)
            {
                if (c is < '0' or > '9')
                    return false;
            }

            if (int.Parse(part, NumberStyles.None, CultureInfo.InvariantCulture) > 255)
                return false;
        }

        return true;
    }
}
