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

/// <summary>Who sent a request: recorded with every event it causes.</summary>
/// <param name="Client">Client identity as seen by the server (peer address or "cli", "restore", …).</param>
/// <param name="MessageId">The request's message_id, when present.</param>
public sealed record RequestOrigin(string Client, string? MessageId)
{
    public static readonly RequestOrigin Local = new("local", null);
}
