namespace Butterfly.Cli.Transport;

/// <summary>Result of one request/reply exchange: the reply bytes, or why there is none.</summary>
internal readonly record struct ExchangeResult(byte[]? Reply, string? Error);

/// <summary>
/// One request, one reply, over whatever carries the bytes (ZeroMQ REQ in production,
/// an in-memory fake in unit tests).
/// </summary>
internal interface IApiTransport : IDisposable
{
    ExchangeResult Exchange(byte[] request, TimeSpan? timeout);
}
