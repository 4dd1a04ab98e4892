namespace Butterfly.Cli.Transport;

/// <summary>Result of one request/reply exchange: the reply bytes, or why there is none.</summary>
internal readonly record struct ExchangeResult(byte[]? Reply, string? Error);

/// <summary>The client's CURVE keys: its own pair and the daemon's public key (32 bytes each).</summary>
internal sealed record CurveClientKeys(byte[] PublicKey, byte[] SecretKey, byte[] ServerKey);

/// <summary>Where and how to reach the daemon: its endpoint, and CURVE keys when the API runs CURVE.</summary>
internal sealed record ApiTarget(string Endpoint, CurveClientKeys? Curve);

/// <summary>
/// One request, one reply, over whatever carries the bytes (ZeroMQ REQ in production,
/// an in-memory fake in unit tests).
/// </summary>
internal interface IApiTransport : IDisposable
{
    ExchangeResult Exchange(byte[] request, TimeSpan? timeout);
}
