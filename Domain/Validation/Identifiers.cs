namespace Butterfly.Domain.Validation;

/// <summary>Rules for the ids the API names NICs and security groups with.</summary>
public static class Identifiers
{
    /// <summary>A NIC id becomes a socket file name and a tap name, hence the strict alphabet.</summary>
    public const int MaxNicIdLength = 64;

    /// <summary>Security group ids are only compared, never used as names on the host.</summary>
    public const int MaxGroupIdLength = 255;

    public static Validated<string> NicId(string field, string? value)
    {
        if (string.IsNullOrEmpty(value))
            return Validated.Fail<string>($"{field} is empty: a NIC needs an id");
        if (value.Length > MaxNicIdLength)
            return Validated.Fail<string>($"{field} '{value}' is {value.Length} characters long: at most {MaxNicIdLength} are allowed");
        if (value is "." or "..")
            return Validated.Fail<string>($"{field} '{value}' is not allowed: it would name a directory, not a socket file");
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return Validated.Fail<string>(
                    $"{field} '{value}' contains '{Printable(c)}': only letters, digits, '-', '_' and '.' are allowed (the id names a socket file and a tap interface)");
            }
        }

        return Validated.Ok(value);
    }

    public static Validated<string> GroupId(string field, string? value)
    {
        if (string.IsNullOrEmpty(value))
            return Validated.Fail<string>($"{field} is empty: a security group needs an id");
        if (value.Length > MaxGroupIdLength)
            return Validated.Fail<string>($"{field} is {value.Length} characters long: at most {MaxGroupIdLength} are allowed");
        foreach (var c in value)
        {
            if (char.IsControl(c))
                return Validated.Fail<string>($"{field} '{Printable(value)}' contains a control character, which is not allowed in a security group id");
        }

        return Validated.Ok(value);
    }

    /// <summary>Renders control characters visibly so an error message stays on one line.</summary>
    internal static string Printable(char c) => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString();

    internal static string Printable(string value) => string.Concat(value.Select(Printable));
}
