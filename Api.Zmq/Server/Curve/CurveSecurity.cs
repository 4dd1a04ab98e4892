using Butterfly.Api.Zmq.Server.Transport;
using Butterfly.Wire;
using Serilog;

namespace Butterfly.Api.Zmq.Server.Curve;

/// <summary>
/// CURVE on the API (<c>--curve-key</c>, <c>--curve-allow</c>): the server's key pair and the
/// client keys let in. The allow-list is read at start and again on SIGHUP (<see cref="Reload"/>);
/// a list that cannot be read leaves the one in use in place. Read by the API thread (ZAP requests,
/// and every request, so a key removed from the list stops being served at once), replaced from
/// the signal thread.
/// </summary>
internal sealed class CurveSecurity
{
    private CurveAllowList _allowed;

    private CurveSecurity(byte[] publicKey, byte[] secretKey, string allowPath, CurveAllowList allowed)
    {
        PublicKey = publicKey;
        SecretKey = secretKey;
        AllowPath = allowPath;
        _allowed = allowed;
    }

    public byte[] PublicKey { get; }

    public byte[] SecretKey { get; }

    /// <summary>The server's public key in Z85: what clients give as the server key.</summary>
    public string PublicKeyZ85 => CurveKeys.Z85Encode(PublicKey);

    public string AllowPath { get; }

    public CurveAllowList Allowed => Volatile.Read(ref _allowed);

    /// <summary>Reads the key pair and the allow-list; throws <see cref="InvalidDataException"/> with one line.</summary>
    public static CurveSecurity Load(string keyFile, string allowPath)
    {
        var (publicKey, secretKey) = CurveKeys.ReadKeyPair(keyFile, PublicOf);
        return new CurveSecurity(publicKey, secretKey, allowPath, CurveAllowList.Load(allowPath));
    }

    /// <summary>SIGHUP: reads the allow-list again; on failure the one in use stays.</summary>
    public void Reload(ILogger log)
    {
        try
        {
            var list = CurveAllowList.Load(AllowPath);
            Volatile.Write(ref _allowed, list);
            log.Warning("SIGHUP: {Count} allowed CURVE client keys loaded from {Source}", list.Count, list.Source);
        }
        catch (InvalidDataException e)
        {
            log.Error("SIGHUP: {Error}; the {Count} allowed CURVE client keys in use stay", e.Message, Allowed.Count);
        }
    }

    /// <summary>The public key of a secret key, by libzmq (Curve25519 of the base point).</summary>
    private static unsafe byte[] PublicOf(byte[] secretKey)
    {
        var secret = System.Text.Encoding.ASCII.GetBytes(CurveKeys.Z85Encode(secretKey) + "\0");
        var result = new byte[CurveKeys.Z85Length + 1];
        fixed (byte* s = secret)
        fixed (byte* p = result)
        {
            if (LibZmq.CurvePublic(p, s) != 0)
            {
                throw new InvalidDataException($"libzmq cannot derive a public key: {LibZmq.LastError()}");
            }
        }
        return CurveKeys.Z85Decode(System.Text.Encoding.ASCII.GetString(result, 0, CurveKeys.Z85Length))!;
    }
}
