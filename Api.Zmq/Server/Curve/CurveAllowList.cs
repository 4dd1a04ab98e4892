using System.Collections.Frozen;
using System.Globalization;
using Butterfly.Wire;

namespace Butterfly.Api.Zmq.Server.Curve;

/// <summary>
/// The client public keys the API lets in when it runs CURVE, loaded from <c>--curve-allow</c>:
/// <list type="bullet">
/// <item>a directory: every <c>*.key</c> file in it is a public key file (the layout pyzmq's
/// <c>zmq.auth.create_certificates</c> and <c>butterfly keygen</c> write; <c>*.key_secret</c>
/// files are skipped, other names ignored);</item>
/// <item>a file: one key per line, as 40 Z85 characters or a certificate's
/// <c>public-key = "…"</c> line; blank lines and lines starting with <c>#</c> are skipped.</item>
/// </list>
/// Immutable: a reload builds a new list and swaps it in (<see cref="CurveSecurity"/>).
/// </summary>
internal sealed class CurveAllowList
{
    private readonly FrozenSet<string> _keys;

    private CurveAllowList(FrozenSet<string> keys, string source)
    {
        _keys = keys;
        Source = source;
    }

    /// <summary>Where the keys came from, for the log.</summary>
    public string Source { get; }

    public int Count => _keys.Count;

    /// <summary>Whether the key (40 Z85 characters) is allowed.</summary>
    public bool Contains(string z85PublicKey) => _keys.Contains(z85PublicKey);

    /// <summary>Loads the list; throws <see cref="InvalidDataException"/> with one line naming the file and the problem.</summary>
    public static CurveAllowList Load(string path)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(path))
        {
            string[] files;
            try
            {
                files = Directory.GetFiles(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidDataException($"cannot list the allowed client keys in '{path}': {e.Message}", e);
            }
            foreach (var file in files.Where(f => f.EndsWith(".key", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                keys.Add(CurveKeys.Z85Encode(CurveKeys.ReadPublicKey(file)));
            }
            return new CurveAllowList(keys.ToFrozenSet(StringComparer.Ordinal), $"{path}/*.key");
        }
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"cannot read the allowed client keys '{path}': {e.Message}", e);
        }
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#' || line is "metadata" or "curve")
            {
                continue;
            }
            var text = line.StartsWith("public-key", StringComparison.Ordinal) ? line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..].Trim().Trim('"') : line;
            if (line.StartsWith("secret-key", StringComparison.Ordinal) || CurveKeys.ParseZ85Key(text) is null)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"allowed client keys '{path}', line {i + 1}: expected a client's public key (40 Z85 characters or public-key = \"…\")"));
            }
            keys.Add(text);
        }
        return new CurveAllowList(keys.ToFrozenSet(StringComparer.Ordinal), path);
    }
}
