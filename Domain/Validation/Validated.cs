namespace Butterfly.Domain.Validation;

/// <summary>
/// A normalised value, or a description a person can act on (which field, which value, why).
/// The domain reports bad input as values, never as exceptions.
/// </summary>
public readonly record struct Validated<T>(T? Value, string? Error)
{
    public bool IsValid => Error is null;
}

/// <summary>Shorthands that let generic inference pick <see cref="Validated{T}"/>'s type.</summary>
public static class Validated
{
    public static Validated<T> Ok<T>(T value) => new(value, null);

    public static Validated<T> Fail<T>(string error) => new(default, error);
}
