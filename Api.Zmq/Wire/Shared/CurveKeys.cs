using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Butterfly.Wire;

/// <summary>
/// A CURVE key file as read (32 bytes per key): a certificate's public key and, in a secret
/// certificate, its secret key; or one bare key, which the caller reads as what it expects.
/// </summary>
public sealed record CurveKeyFile(byte[]? PublicKey, byte[]? SecretKey, byte[]? BareKey);

/// <summary>
/// CURVE keys on disk, shared by butterflyd and the butterfly CLI (docs/protocol.md, "CURVE").
/// A key file is one of:
/// <list type="bullet">
/// <item>a ZeroMQ certificate, as CZMQ's <c>zcert_save</c>, pyzmq's <c>zmq.auth.create_certificates</c>
/// and <c>butterfly keygen</c> write it: text with a <c>curve</c> section holding
/// <c>public-key = "Z85"</c> and, in the secret certificate, <c>secret-key = "Z85"</c>;</item>
/// <item>the Z85 text of one key: 40 characters (surrounding whitespace allowed);</item>
/// <item>the 32 bytes of one key, raw.</item>
/// </list>
/// A bare key is the secret key where a key pair is expected (its public key is derived) and the
/// public key where a public key is expected. Pure: reads only the file it is given.
/// </summary>
public static partial class CurveKeys
{
    public const int KeyBytes = 32;

    /// <summary>Length of a key in Z85 text.</summary>
    public const int Z85Length = 40;

    private const string Z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

    [GeneratedRegex("""^\s*(public-key|secret-key)\s*=\s*"?([^"\s]*)"?\s*$""", RegexOptions.CultureInvariant)]
    private static partial Regex CertificateLine();

    /// <summary>Z85 (ZeroMQ RFC 32) of <paramref name="data"/>, whose length is a multiple of 4.</summary>
    public static string Z85Encode(ReadOnlySpan<byte> data)
    {
        if (data.Length % 4 != 0)
        {
            throw new ArgumentException("Z85 encodes multiples of 4 bytes", nameof(data));
        }
        var text = new StringBuilder(data.Length / 4 * 5);
        Span<char> chunk = stackalloc char[5];
        for (var i = 0; i < data.Length; i += 4)
        {
            var value = (uint)(data[i] << 24 | data[i + 1] << 16 | data[i + 2] << 8 | data[i + 3]);
            for (var j = 4; j >= 0; j--)
            {
                chunk[j] = Z85Alphabet[(int)(value % 85)];
                value /= 85;
            }
            text.Append(chunk);
        }
        return text.ToString();
    }

    /// <summary>The bytes of Z85 text whose length is a multiple of 5, or null when it is not Z85.</summary>
    public static byte[]? Z85Decode(string text)
    {
        if (text.Length % 5 != 0)
        {
            return null;
        }
        var data = new byte[text.Length / 5 * 4];
        for (var i = 0; i < text.Length; i += 5)
        {
            ulong value = 0;
            for (var j = 0; j < 5; j++)
            {
                var digit = Z85Alphabet.IndexOf(text[i + j], StringComparison.Ordinal);
                if (digit < 0)
                {
                    return null;
                }
                value = value * 85 + (ulong)digit;
            }
            if (value > uint.MaxValue)
            {
                return null;
            }
            var at = i / 5 * 4;
            data[at] = (byte)(value >> 24);
            data[at + 1] = (byte)(value >> 16);
            data[at + 2] = (byte)(value >> 8);
            data[at + 3] = (byte)value;
        }
        return data;
    }

    /// <summary>A key given as 40 Z85 characters, or null.</summary>
    public static byte[]? ParseZ85Key(string text)
    {
        var trimmed = text.Trim();
        return trimmed.Length == Z85Length ? Z85Decode(trimmed) : null;
    }

    /// <summary>Reads a key file; throws <see cref="InvalidDataException"/> with one line naming the file and the problem.</summary>
    public static CurveKeyFile Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"cannot read key file '{path}': {e.Message}", e);
        }
        return Parse(bytes, path);
    }

    /// <summary>The content of a key file named <paramref name="path"/> (for messages).</summary>
    public static CurveKeyFile Parse(byte[] bytes, string path)
    {
        if (bytes.Length == KeyBytes)
        {
            return new CurveKeyFile(null, null, bytes);
        }
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Bad(path, $"{bytes.Length} bytes that are not text");
        }
        if (ParseZ85Key(text) is { } bare)
        {
            return new CurveKeyFile(null, null, bare);
        }
        byte[]? publicKey = null, secretKey = null;
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            var match = CertificateLine().Match(line.TrimEnd('\r'));
            if (!match.Success)
            {
                continue;
            }
            var key = ParseZ85Key(match.Groups[2].Value)
                ?? throw Bad(path, string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}: {match.Groups[1].Value} is not 40 Z85 characters"));
            if (match.Groups[1].Value == "public-key")
            {
                publicKey = key;
            }
            else
            {
                secretKey = key;
            }
        }
        return publicKey is null && secretKey is null
            ? throw Bad(path, "neither a ZeroMQ certificate (public-key = \"…\") nor a key (40 Z85 characters or 32 raw bytes)")
            : new CurveKeyFile(publicKey, secretKey, null);
    }

    /// <summary>
    /// A key pair from a file that holds the secret key; <paramref name="derivePublic"/> computes the
    /// public key of a secret key (libzmq's zmq_curve_public, NetMQ's certificate).
    /// </summary>
    public static (byte[] PublicKey, byte[] SecretKey) ReadKeyPair(string path, Func<byte[], byte[]> derivePublic)
    {
        ArgumentNullException.ThrowIfNull(derivePublic);
        var file = Read(path);
        var secretKey = file.SecretKey ?? file.BareKey
            ?? throw Bad(path, "it holds a public key only: give the secret certificate (the *_secret file of a pair)");
        var derived = derivePublic(secretKey);
        if (file.PublicKey is { } stated && !stated.AsSpan().SequenceEqual(derived))
        {
            throw Bad(path, "its public-key is not the public key of its secret-key");
        }
        return (derived, secretKey);
    }

    /// <summary>The public key a file holds: a certificate's public-key, or a bare key.</summary>
    public static byte[] ReadPublicKey(string path)
    {
        var file = Read(path);
        return file.PublicKey ?? file.BareKey ?? throw Bad(path, "it holds a secret key but no public-key");
    }

    /// <summary>
    /// A ZeroMQ certificate (the layout CZMQ and pyzmq read and write): the public one when
    /// <paramref name="secretKey"/> is null, the secret one otherwise.
    /// </summary>
    public static string Certificate(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> secretKey, DateTimeOffset now, string generator)
    {
        var secret = !secretKey.IsEmpty;
        var text = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"#   ****  Generated on {now:yyyy-MM-dd HH:mm:ss}Z by {generator}  ****\n")
            .Append(secret ? "#   ZeroMQ CURVE **Secret** Certificate\n" : "#   ZeroMQ CURVE Public Certificate\n")
            .Append(secret ? "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
                           : "#   Exchange securely, or use a secure mechanism to verify the contents\n#   of this file after exchange. Store public certificates in your home\n#   directory, in the .curve subdirectory.\n")
            .Append("\nmetadata\ncurve\n")
            .Append(CultureInfo.InvariantCulture, $"    public-key = \"{Z85Encode(publicKey)}\"\n");
        if (secret)
        {
            text.Append(CultureInfo.InvariantCulture, $"    secret-key = \"{Z85Encode(secretKey)}\"\n");
        }
        return text.ToString();
    }

    private static InvalidDataException Bad(string path, string why) => new($"key file '{path}': {why}");
}
