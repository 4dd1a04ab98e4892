using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk;

/// <summary>
/// Work the control thread hands to the packet thread because it touches state only the packet
/// thread may touch (the connection table). The packet thread does it a bounded step at a time
/// between rounds (<see cref="PacketThread.RunJob"/>), so a large job never stalls traffic;
/// it does not sleep while a job waits.
/// </summary>
internal abstract class PacketThreadJob : IDisposable
{
    private readonly ManualResetEventSlim _done = new();
    private volatile bool _cancelled;

    /// <summary>Set by the control thread when it stopped waiting; the packet thread then drops the job.</summary>
    internal bool Cancelled => _cancelled;

    /// <summary>One bounded step; true when the job is finished. Packet thread.</summary>
    internal abstract bool Step(Forwarder forwarder, FirewallPolicy policy, long now);

    internal void Complete() => _done.Set();

    internal bool Wait(TimeSpan timeout) => _done.Wait(timeout);

    internal void Cancel() => _cancelled = true;

    public void Dispose() => _done.Dispose();
}

/// <summary>
/// Copies the live connections of one conntrack zone into <see cref="Results"/>, visiting
/// <see cref="EntriesPerStep"/> table entries per step. Remaining lifetimes are relative to
/// <see cref="Now"/>, the clock of the step that finished.
/// </summary>
internal sealed class ExportConnectionsJob(uint zone, int capacity) : PacketThreadJob
{
    internal const int EntriesPerStep = 16384;

    private int _cursor;

    internal Connection[] Results { get; } = new Connection[capacity];

    internal int Count { get; private set; }

    /// <summary>More connections than <see cref="Results"/> holds: run again with a larger one.</summary>
    internal bool Overflow { get; private set; }

    internal long Now { get; private set; }

    internal override bool Step(Forwarder forwarder, FirewallPolicy policy, long now)
    {
        var table = forwarder.Firewall.Table;
        var end = Math.Min(table.HighWater, _cursor + EntriesPerStep);
        for (; _cursor < end; _cursor++)
        {
            if (!table.InUse(_cursor))
            {
                continue;
            }
            ref var c = ref table[_cursor];
            if (c.Key.Zone != zone || c.Key.Kind != FlowKind.Connection || now - c.Expires >= 0)
            {
                continue;
            }
            if (Count == Results.Length)
            {
                Overflow = true;
                return true;
            }
            Results[Count++] = c;
        }
        Now = now;
        return _cursor >= table.HighWater;
    }
}

/// <summary>
/// Inserts connections (keyed in their new zone, <see cref="Connection.Expires"/> holding the
/// lifetime left in clock ticks) into the table, <see cref="EntriesPerStep"/> per step.
/// </summary>
internal sealed class ImportConnectionsJob(Connection[] connections) : PacketThreadJob
{
    internal const int EntriesPerStep = 4096;

    private int _cursor;

    /// <summary>Connections the full table could not take.</summary>
    internal int Refused { get; private set; }

    internal override bool Step(Forwarder forwarder, FirewallPolicy policy, long now)
    {
        var end = Math.Min(connections.Length, _cursor + EntriesPerStep);
        for (; _cursor < end; _cursor++)
        {
            var c = connections[_cursor];
            c.Expires += now;
            if (!forwarder.Firewall.Insert(c))
            {
                Refused++;
            }
        }
        return _cursor >= connections.Length;
    }
}
