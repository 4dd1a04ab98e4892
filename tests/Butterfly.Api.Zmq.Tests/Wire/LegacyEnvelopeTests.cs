using Butterfly.Wire;

namespace Butterfly.Api.Zmq.Tests.Wire;

public class LegacyEnvelopeTests
{
    // Known-answer vectors made with an independent implementation, the openssl CLI:
    //   plain = SHA-512(clear) || clear || PKCS#7 padding
    //   openssl enc -d -aes-256-cbc -nopad -K 000102…1f -iv a0a1…af -in plain   (decrypt direction)
    //   payload = iv || output
    // and checked back with `openssl enc -e -aes-256-cbc -nopad` (the reading direction).
    private static readonly byte[] Key = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];
    private static readonly byte[] Iv = [.. Enumerable.Range(0xa0, 16).Select(i => (byte)i)];

    public static TheoryData<string, string> Vectors => new()
    {
        {
            // A serialized Messages { message_0 { request { app_status: true } } }: 11 bytes, 5 of padding.
            "0a0908061a050a03880101",
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf53df5309576e5aeed1392adc158e4f5002007dc0fd7be6776e7999a7b2fa18523a655ce768ed7d369bb25f4b26497bd09f3d9710629a05b2c7ab339ae3b4cc4ed4a3bcdd78e550023cc3a71b8ab78d5b"
        },
        {
            // 32 bytes: a whole block of padding.
            "74776f20626c6f636b20737472696e6774776f20626c6f636b20737472696e67",
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf32835b26dd427125604aa398143ec91c74fe2b4ba04b5cc4939c3f546f3ccfca217d0cf3f1f8819a146c05537439bd65e41944b959694c3ce412b8d26ad1b6a2ef9d5b64b34284846fe031f6eccb9ec3d7798fd5c31e51f350c6aa3a53baec9d910117d9ab124572948539b5987a966b"
        },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Seal_matches_the_openssl_known_answer(string clearHex, string payloadHex)
    {
        var payload = LegacyEnvelope.Seal(Convert.FromHexString(clearHex), Key, Iv);

        Assert.Equal(payloadHex, Convert.ToHexStringLower(payload));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void TryOpen_reads_the_openssl_known_answer(string clearHex, string payloadHex)
    {
        var status = LegacyEnvelope.TryOpen(Convert.FromHexString(payloadHex), Key, out var clear);

        Assert.Equal(EnvelopeOpenStatus.Ok, status);
        Assert.Equal(clearHex, Convert.ToHexStringLower(clear));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(4096)]
    public void Seal_then_open_round_trips_with_a_random_iv(int length)
    {
        var clear = new byte[length];
        Random.Shared.NextBytes(clear);

        var first = LegacyEnvelope.Seal(clear, Key);
        var second = LegacyEnvelope.Seal(clear, Key);

        Assert.NotEqual(first, second); // fresh IV each time
        Assert.Equal(0, first.Length % LegacyEnvelope.BlockSize);
        Assert.Equal(EnvelopeOpenStatus.Ok, LegacyEnvelope.TryOpen(first, Key, out var opened));
        Assert.Equal(clear, opened);
    }

    [Fact]
    public void A_flipped_bit_anywhere_is_refused()
    {
        var payload = Convert.FromHexString((string)Vectors.First()[1]);
        for (var i = 0; i < payload.Length; i++)
        {
            var tampered = (byte[])payload.Clone();
            tampered[i] ^= 0x01;

            var status = LegacyEnvelope.TryOpen(tampered, Key, out var clear);

            Assert.True(status is EnvelopeOpenStatus.BadDigest or EnvelopeOpenStatus.BadPadding, $"byte {i}: {status}");
            Assert.Empty(clear);
        }
    }

    [Fact]
    public void A_wrong_key_is_refused()
    {
        var payload = LegacyEnvelope.Seal("hello"u8, Key);
        var other = (byte[])Key.Clone();
        other[0] ^= 0xff;

        Assert.NotEqual(EnvelopeOpenStatus.Ok, LegacyEnvelope.TryOpen(payload, other, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(80)]
    [InlineData(95)]
    [InlineData(97)]
    public void Bad_lengths_are_refused(int length)
    {
        Assert.Equal(EnvelopeOpenStatus.BadLength, LegacyEnvelope.TryOpen(new byte[length], Key, out _));
    }

    [Fact]
    public void A_truncated_payload_is_refused()
    {
        var payload = LegacyEnvelope.Seal(new byte[100], Key);

        Assert.NotEqual(EnvelopeOpenStatus.Ok, LegacyEnvelope.TryOpen(payload.AsSpan(0, payload.Length - 16), Key, out _));
    }

    [Theory]
    [InlineData("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")]
    [InlineData("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")]
    [InlineData("  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n")]
    public void Key_text_is_base64_of_32_bytes_with_optional_whitespace(string text)
    {
        Assert.Equal(Key, LegacyEnvelope.TryParseKey(text, out var error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData("", "decodes to 0 bytes")]
    [InlineData("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", "decodes to 31 bytes")]
    [InlineData("not base64 at all!", "base64")]
    public void Bad_key_text_is_explained(string text, string expected)
    {
        Assert.Null(LegacyEnvelope.TryParseKey(text, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_key_file_is_explained()
    {
        Assert.Null(LegacyEnvelope.TryLoadKeyFile("/nonexistent/butterfly.key", out var error));
        Assert.Contains("cannot read key file '/nonexistent/butterfly.key'", error, StringComparison.Ordinal);
    }
}
