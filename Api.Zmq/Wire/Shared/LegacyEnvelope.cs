using System.Security.Cryptography;

namespace Butterfly.Wire;

/// <summary>Why <see cref="LegacyEnvelope.TryOpen"/> refused a payload.</summary>
public enum EnvelopeOpenStatus
{
    Ok,

    /// <summary>Shorter than IV + digest + one block, or not a whole number of blocks.</summary>
    BadLength,

    /// <summary>The last block does not end with a valid PKCS#7 padding.</summary>
    BadPadding,

    /// <summary>The SHA-512 carried in the payload does not match the clear text (wrong key or tampering).</summary>
    BadDigest,
}

/// <summary>
/// The legacy encrypted envelope of the Butterfly API (docs/protocol.md, "Legacy encrypted
/// envelope"), shared by butterflyd and the butterfly CLI.
/// <para>
/// Payload layout: <c>IV(16) ‖ Y</c>, where <c>Y</c> is AES-256 "CBC" over the plain blocks
/// <c>X = SHA-512(clear) ‖ clear ‖ PKCS#7 padding</c>. Existing deployments run the cipher
/// in the <b>decrypt direction</b> to produce <c>Y</c>: <c>Y_i = AES_Dec_K(X_i) XOR X_{i-1}</c>
/// with <c>X_0 = IV</c>, which is what <see cref="Aes.DecryptCbc(ReadOnlySpan{byte}, ReadOnlySpan{byte}, PaddingMode)"/>
/// computes. A reader inverts it with plain CBC encryption, <c>X_i = AES_Enc_K(Y_i XOR X_{i-1})</c>,
/// then checks the padding and the digest. This is unusual but it is the wire format that
/// orchestrators already speak, so it is reproduced exactly and pinned by a known-answer test.
/// </para>
/// </summary>
public static class LegacyEnvelope
{
    public const int KeySize = 32;
    public const int IvSize = 16;
    public const int BlockSize = 16;
    public const int DigestSize = 64;

    /// <summary>Smallest valid payload: IV, the digest and one block of (padded) clear text.</summary>
    public const int MinimumPayloadSize = IvSize + DigestSize + BlockSize;

    /// <summary>
    /// Reads a key file: base64 text of exactly 32 bytes; surrounding whitespace (such as a
    /// trailing newline) is allowed. Returns null and sets <paramref name="error"/> otherwise.
    /// </summary>
    public static byte[]? TryLoadKeyFile(string path, out string? error)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            error = $"cannot read key file '{path}': {e.Message}";
            return null;
        }

        var key = TryParseKey(text, out var parseError);
        error = key is null ? $"key file '{path}': {parseError}" : null;
        return key;
    }

    /// <summary>Decodes the base64 text of a key file; see <see cref="TryLoadKeyFile"/>.</summary>
    public static byte[]? TryParseKey(string text, out string? error)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            error = "the key must be base64 text of 32 bytes (e.g. the output of `openssl rand -base64 32`)";
            return null;
        }

        if (key.Length != KeySize)
        {
            error = $"the key decodes to {key.Length} bytes, expected {KeySize}";
            return null;
        }

        error = null;
        return key;
    }

    /// <summary>Seals <paramref name="clear"/> with a fresh random IV.</summary>
    public static byte[] Seal(ReadOnlySpan<byte> clear, byte[] key)
    {
        Span<byte> iv = stackalloc byte[IvSize];
        RandomNumberGenerator.Fill(iv);
        return Seal(clear, key, iv);
    }

    /// <summary>Seals <paramref name="clear"/> with the given IV (known-answer tests use this).</summary>
    public static byte[] Seal(ReadOnlySpan<byte> clear, byte[] key, ReadOnlySpan<byte> iv)
    {
        CheckKey(key);
        if (iv.Length != IvSize)
        {
            throw new ArgumentException($"the IV must be {IvSize} bytes", nameof(iv));
        }

        // PKCS#7 always pads, with a whole block when the clear text fills its last one.
        var padLength = BlockSize - (clear.Length % BlockSize);
        var plain = new byte[DigestSize + clear.Length + padLength];
        SHA512.HashData(clear, plain.AsSpan(0, DigestSize));
        clear.CopyTo(plain.AsSpan(DigestSize));
        plain.AsSpan(DigestSize + clear.Length).Fill((byte)padLength);

        using var aes = Aes.Create();
        aes.Key = key;
        var payload = new byte[IvSize + plain.Length];
        iv.CopyTo(payload);
        // The decrypt direction is the legacy wire format, not a mistake: see the class comment.
        aes.DecryptCbc(plain, iv, payload.AsSpan(IvSize), PaddingMode.None);
        return payload;
    }

    /// <summary>
    /// Opens a payload made by <see cref="Seal(ReadOnlySpan{byte}, byte[])"/> (or by the
    /// original Butterfly). On success <paramref name="clear"/> holds the clear bytes.
    /// </summary>
    public static EnvelopeOpenStatus TryOpen(ReadOnlySpan<byte> payload, byte[] key, out byte[] clear)
    {
        CheckKey(key);
        clear = [];
        if (payload.Length < MinimumPayloadSize || payload.Length % BlockSize != 0)
        {
            return EnvelopeOpenStatus.BadLength;
        }

        var iv = payload[..IvSize];
        var body = payload[IvSize..];
        using var aes = Aes.Create();
        aes.Key = key;
        var plain = aes.EncryptCbc(body, iv, PaddingMode.None);

        int padLength = plain[^1];
        if (padLength is 0 or > BlockSize)
        {
            return EnvelopeOpenStatus.BadPadding;
        }

        foreach (var b in plain.AsSpan(plain.Length - padLength))
        {
            if (b != padLength)
            {
                return EnvelopeOpenStatus.BadPadding;
            }
        }

        var clearSpan = plain.AsSpan(DigestSize, plain.Length - DigestSize - padLength);
        Span<byte> digest = stackalloc byte[DigestSize];
        SHA512.HashData(clearSpan, digest);
        if (!CryptographicOperations.FixedTimeEquals(digest, plain.AsSpan(0, DigestSize)))
        {
            return EnvelopeOpenStatus.BadDigest;
        }

        clear = clearSpan.ToArray();
        return EnvelopeOpenStatus.Ok;
    }

    private static void CheckKey(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"the key must be {KeySize} bytes", nameof(key));
        }
    }
}
