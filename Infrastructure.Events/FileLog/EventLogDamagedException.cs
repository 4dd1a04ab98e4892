namespace Butterfly.Infrastructure.Events.FileLog;

/// <summary>
/// The event log holds damage that is not an interrupted append: cutting it could lose
/// acknowledged events, so the store does not open and nothing on disk was changed. The
/// message is meant for the operator as it is: file, offset, sequences affected, what to do.
/// </summary>
public sealed class EventLogDamagedException(string message) : IOException(message)
{
    /// <summary>The advice every such message ends with.</summary>
    internal static string Advice(string directory) =>
        "Nothing was changed on disk. To see what a repair would keep and drop: " +
        $"butterflyd --repair-log --event-store file:{directory}; add --yes to apply it " +
        $"(it first copies the log files to {directory}/damaged-TIME/ and keeps every intact record).";
}
