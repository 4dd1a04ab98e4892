namespace Butterfly.EndToEnd.Tests;

/// <summary>
/// Polls a condition until it holds or a generous deadline passes. Used for effects that
/// follow real processes (a frontend connecting, a kernel interface appearing); the deadline
/// bounds the wait, it is not a timing assertion.
/// </summary>
internal static class Eventually
{
    public static async Task<bool> TrueAsync(Func<bool> condition, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return condition();
    }
}
