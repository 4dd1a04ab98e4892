namespace Butterfly.Api.Zmq.Options;

/// <summary>One <c>key = value</c> line of an INI file, with where it was read.</summary>
internal sealed record IniEntry(string Section, string Key, string Value, int Line);

/// <summary>
/// A minimal INI reader matching what butterflyd.ini files contain: <c>[section]</c>
/// headers, <c>key = value</c> (or <c>key=value</c>) lines, whole-line comments starting
/// with ';' or '#', blank lines. Section and key names are case-insensitive (as in the
/// original daemon's SimpleIni); values are kept verbatim except for surrounding
/// whitespace and one pair of matching surrounding quotes. Pure: parses text only.
/// </summary>
internal static class IniFile
{
    /// <summary>Entries in file order, or null with <paramref name="error"/> naming the bad line.</summary>
    public static IReadOnlyList<IniEntry>? Parse(string text, string fileName, out string? error)
    {
        var entries = new List<IniEntry>();
        var section = "";
        var lines = text.Split('\n');
        for (var n = 0; n < lines.Length; n++)
        {
            var line = lines[n].Trim();
            if (n == 0 && line.Length > 0 && line[0] == '\uFEFF')
            {
                line = line[1..].TrimStart();
            }

            if (line.Length == 0 || line[0] is ';' or '#')
            {
                continue;
            }

            if (line[0] == '[')
            {
                if (line[^1] != ']' || line.Length < 3)
                {
                    error = $"{fileName}:{n + 1}: malformed section header '{line}'";
                    return null;
                }

                section = line[1..^1].Trim().ToLowerInvariant();
                continue;
            }

            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error = $"{fileName}:{n + 1}: expected 'key = value' or '[section]', got '{line}'";
                return null;
            }

            var key = line[..eq].Trim().ToLowerInvariant();
            entries.Add(new IniEntry(section, key, Unquote(line[(eq + 1)..].Trim()), n + 1));
        }

        error = null;
        return entries;
    }

    private static string Unquote(string value) =>
        value.Length >= 2 && value[0] is '"' or '\'' && value[^1] == value[0] ? value[1..^1] : value;
}
