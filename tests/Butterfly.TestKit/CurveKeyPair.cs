using Butterfly.Wire;
using NetMQ;

namespace Butterfly.TestKit;

/// <summary>
/// A fresh CURVE key pair written as the two ZeroMQ certificates <c>butterfly keygen</c> and
/// pyzmq's <c>zmq.auth.create_certificates</c> write: <c>NAME.key</c> (public) and
/// <c>NAME.key_secret</c> (both keys).
/// </summary>
public sealed class CurveKeyPair
{
    private CurveKeyPair(byte[] publicKey, byte[] secretKey, string publicFile, string secretFile)
    {
        PublicKey = publicKey;
        SecretKey = secretKey;
        PublicFile = publicFile;
        SecretFile = secretFile;
    }

    public byte[] PublicKey { get; }

    public byte[] SecretKey { get; }

    /// <summary>The public key in Z85 (40 characters), as the daemon records it.</summary>
    public string PublicZ85 => CurveKeys.Z85Encode(PublicKey);

    public string SecretZ85 => CurveKeys.Z85Encode(SecretKey);

    /// <summary>DIR/NAME.key.</summary>
    public string PublicFile { get; }

    /// <summary>DIR/NAME.key_secret.</summary>
    public string SecretFile { get; }

    /// <summary>Makes a pair and writes DIR/NAME.key and DIR/NAME.key_secret (DIR is created if missing).</summary>
    public static CurveKeyPair Create(string dir, string name)
    {
        Directory.CreateDirectory(dir);
        var certificate = new NetMQCertificate();
        var secretKey = certificate.SecretKey ?? throw new InvalidOperationException("NetMQ made a certificate without a secret key");
        var now = DateTimeOffset.UtcNow;
        var publicFile = Path.Combine(dir, name + ".key");
        var secretFile = Path.Combine(dir, name + ".key_secret");
        File.WriteAllText(publicFile, CurveKeys.Certificate(certificate.PublicKey, [], now, "Butterfly.TestKit"));
        File.WriteAllText(secretFile, CurveKeys.Certificate(certificate.PublicKey, secretKey, now, "Butterfly.TestKit"));
        return new CurveKeyPair(certificate.PublicKey, secretKey, publicFile, secretFile);
    }
}

/// <summary>What a CURVE client of the API needs: the daemon's public key and its own key pair.</summary>
public sealed record CurveClientKeys(byte[] ServerPublicKey, CurveKeyPair Client);
