namespace Butterfly.Application;

/// <summary>
/// The result of a command or query: a value, or a description a person can act on
/// (which field, which value, why). Errors are values here, never exceptions.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1000", Justification = "Outcome<T>.Success / Failure read better at call sites than a separate factory class.")]
public readonly record struct Outcome<T>(T? Value, string? Error)
{
    public bool IsSuccess => Error is null;

    public static Outcome<T> Success(T value) => new(value, null);

    public static Outcome<T> Failure(string description) => new(default, description);
}

/// <summary>The value of a command that returns nothing but success.</summary>
public readonly record struct Done;

/// <summary>Who sent a request, and which request it was: recorded with every event it causes.</summary>
/// <param name="Client">The connection as the server saw it (its endpoint and ZeroMQ routing id, or "local", …).</param>
/// <param name="MessageId">The request's message_id, when present.</param>
public sealed record RequestOrigin(string Client, string? MessageId)
{
    public static readonly RequestOrigin Local = new("local", null);

    /// <summary>The TCP peer's IP address, when the transport tells it.</summary>
    public string? PeerAddress { get; init; }

    /// <summary>The client's CURVE public key (40 Z85 characters), when the API runs CURVE.</summary>
    public string? ClientKey { get; init; }

    /// <summary>The request that caused the events: its name in the protocol ("nic_add"), with its target for a restore ("restore_to 2").</summary>
    public string? Cause { get; init; }

    /// <summary>The client for a log line: the connection, then its address and key when known.</summary>
    public string Describe() =>
        (PeerAddress, ClientKey) switch
        {
            (null, null) => Client,
            (_, null) => $"{Client} ({PeerAddress})",
            (null, _) => $"{Client} (key {ClientKey})",
            _ => $"{Client} ({PeerAddress}, key {ClientKey})",
        };
}
