using Butterfly.Application.Nics;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk.Pipeline;
using Butterfly.Infrastructure.Dpdk.Pipeline.Firewall;

namespace Butterfly.Infrastructure.Dpdk;

// The firewall's side of the data path: compiling the security configuration for the ports
// that exist, conntrack zones, and moving a NIC's tracked connections in and out (nic_export,
// fw_data). Control thread, under the data path's lock like every public member.
public sealed partial class DpdkDataPath
{
    /// <inheritdoc/>
    public byte[]? ExportSessions(string nicId)
    {
        ArgumentNullException.ThrowIfNull(nicId);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_nics.TryGetValue(nicId, out var port))
            {
                return null;
            }
            var capacity = _thread.Conntrack.Entries + 1024;
            while (true)
            {
                using var job = new ExportConnectionsJob(port.Zone, capacity);
                if (!_thread.RunJob(job))
                {
                    throw new TimeoutException($"NIC '{nicId}': the packet thread did not export its connections within {PacketThread.JobTimeout.TotalSeconds:0} s");
                }
                if (job.Overflow)
                {
                    capacity *= 2;
                    continue;
                }
                var sessions = new List<TrackedSession>(job.Count);
                for (var i = 0; i < job.Count; i++)
                {
                    sessions.Add(SessionCodec.ToSession(job.Results[i], job.Now));
                }
                return SessionDocument.Write(sessions);
            }
        }
    }

    /// <inheritdoc/>
    public string? ImportSessions(string nicId, byte[] document)
    {
        ArgumentNullException.ThrowIfNull(nicId);
        ArgumentNullException.ThrowIfNull(document);
        var sessions = SessionDocument.Read(document, out var error);
        if (sessions is null)
        {
            return error;
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_nics.TryGetValue(nicId, out var port))
            {
                return "the NIC has no port to give the sessions to";
            }
            var connections = new Connection[sessions.Count];
            for (var i = 0; i < connections.Length; i++)
            {
                connections[i] = SessionCodec.ToConnection(sessions[i], port.Zone);
            }
            using var job = new ImportConnectionsJob(connections);
            if (!_thread.RunJob(job))
            {
                return $"the packet thread did not import them within {PacketThread.JobTimeout.TotalSeconds:0} s";
            }
            if (job.Refused > 0)
            {
                return $"{job.Refused} of {connections.Length} sessions not imported: the connection table is full (--conntrack-max)";
            }
            _log.Information("NIC {Nic}: {Count} tracked connections imported", nicId, connections.Length);
            return null;
        }
    }

    private static FirewallSettings FirewallSettingsOf(DataPathOptions options) => new(
        options.ConntrackMax,
        ConntrackTimeouts.Parse(options.ConntrackTimeouts, out _) ?? ConntrackTimeouts.Default,
        options.ConntrackCutEstablished);

    /// <summary>The firewall of <paramref name="desired"/> for the NICs that have a port now.</summary>
    private FirewallPolicy CompileFirewall(DesiredDataPath desired)
    {
        var ports = new Dictionary<string, FirewallPort>(_nics.Count, StringComparer.Ordinal);
        foreach (var (id, port) in _nics)
        {
            ports.Add(id, new FirewallPort(port.Handle, port.Zone));
        }
        return _compiler.Compile(desired.Configuration, ports, PortHandles.Count, desired.Version, desired.Committed, desired.PreviousVersion);
    }

    /// <summary>A conntrack zone for a new port on <paramref name="handle"/>: its next incarnation.</summary>
    private uint NextZone(ushort handle) => ((uint)++_incarnations[handle] << 16) | handle;
}
