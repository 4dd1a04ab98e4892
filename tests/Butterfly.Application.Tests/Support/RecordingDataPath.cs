using Butterfly.Application.Ports;
using Butterfly.Domain.Nics;

namespace Butterfly.Application.Tests.Support;

/// <summary>A data path that records what it is told and refuses ids starting with "refuse".</summary>
internal sealed class RecordingDataPath : IDataPath
{
    public List<IReadOnlyList<DataPathNic>> Reconciles { get; } = [];

    public Dictionary<string, NicCounters> Counters { get; } = [];

    public IReadOnlyList<DataPathNic> Current => Reconciles.Count == 0 ? [] : Reconciles[^1];

    public bool ThrowOnReconcile { get; set; }

    /// <summary>What <see cref="NicCapacity"/> says for vhost-user and BENCH NICs.</summary>
    public int Capacity { get; set; } = 4096;

    /// <summary>What <see cref="NicCapacity"/> says for tap NICs.</summary>
    public int TapCapacity { get; set; } = 4096;

    public int NicCapacity(NicType type) => type == NicType.Tap ? TapCapacity : Capacity;

    public string? Validate(DataPathNic nic) =>
        nic.Id.StartsWith("refuse", StringComparison.Ordinal) ? $"tap name '{nic.Id}' is longer than 15 characters" : null;

    public string PathOf(DataPathNic nic) => nic.Type == Domain.Nics.NicType.Tap ? nic.Id : nic.SocketPath ?? $"/tmp/butterfly-test/{nic.Id}";

    public string NewSocketPath(string nicId) => $"/tmp/butterfly-test/qemu-vhost-{nicId}";

    /// <summary>Every reconcile's whole request (configuration, version, committed events).</summary>
    public List<DesiredDataPath> Requests { get; } = [];

    public IReadOnlyDictionary<string, string> Reconcile(DesiredDataPath desired)
    {
        if (ThrowOnReconcile)
            throw new InvalidOperationException("data path is gone");
        Requests.Add(desired);
        Reconciles.Add(desired.Nics);
        return desired.Nics.Where(n => n.Vni == 999).ToDictionary(n => n.Id, _ => "no port for VNI 999");
    }

    /// <summary>What <see cref="ExportSessions"/> returns per NIC id.</summary>
    public Dictionary<string, byte[]> Exports { get; } = [];

    /// <summary>Every ImportSessions call, in order.</summary>
    public List<(string NicId, byte[] Document)> Imports { get; } = [];

    public byte[]? ExportSessions(string nicId) => Exports.GetValueOrDefault(nicId);

    public string? ImportSessions(string nicId, byte[] document)
    {
        Imports.Add((nicId, document));
        return null;
    }

    public NicCounters? CountersOf(string nicId) => Counters.TryGetValue(nicId, out var c) ? c : null;

    public string GraphDot() => "digraph butterfly {}";

    /// <summary>What <see cref="ThreadStats"/> returns.</summary>
    public PacketThreadStats Stats { get; set; } = new(0, -1, 0, 0, 0, 0, 0, 0, 1_000_000_000, []);

    /// <summary>The clear flag of every ThreadStats call, in order.</summary>
    public List<bool> StatsReads { get; } = [];

    public PacketThreadStats ThreadStats(bool clear)
    {
        StatsReads.Add(clear);
        return Stats;
    }
}

internal sealed class FakeHostControl : IHostControl
{
    public int ShutdownRequests { get; private set; }

    public string? Level { get; private set; }

    public DateTimeOffset StartedAt { get; } = new(2024, 12, 31, 23, 0, 0, TimeSpan.Zero);

    public void RequestShutdown() => ShutdownRequests++;

    public bool TrySetLogLevel(string level)
    {
        if (level is not ("none" or "error" or "warning" or "info" or "debug"))
            return false;
        Level = level;
        return true;
    }
}
