using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk.Capture;
using Butterfly.Infrastructure.Dpdk.Pipeline.Capture;

namespace Butterfly.Infrastructure.Dpdk;

// Packet capture, the control side: which ports are traced (packet_trace of each NIC, the
// underlay with --packet-trace), their files and rings, and the figures nic_stats shows.
// Starting a capture opens its file and then publishes its ring; stopping one unpublishes the
// ring, waits for a quiescent point of the packet thread, then writes what is left and closes
// the file, so the file is complete when the request that turned tracing off is answered.
// Control thread, under the data path's lock like every public member.
public sealed partial class DpdkDataPath
{
    /// <summary>The underlay's capture with --packet-trace when no path is given.</summary>
    public const string DefaultUnderlayTracePath = "/tmp/butterfly-underlay.pcap";

    private readonly CaptureWriter _captureWriter = new();
    private readonly Dictionary<string, NicCapture> _captures = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _captureErrors = new(StringComparer.Ordinal);
    private NicCapture? _underlayCapture;
    private string? _underlayCaptureError;

    private CaptureLimits CaptureLimits => new(_options.TraceMaxFileBytes, _options.TraceFiles, _options.TraceSnapLength);

    /// <summary>Starts the underlay's capture (--packet-trace); a file that cannot be made is logged, not fatal.</summary>
    private void StartUnderlayCapture()
    {
        if (!_options.PacketTrace)
        {
            return;
        }
        var path = _options.UnderlayTracePath ?? DefaultUnderlayTracePath;
        _underlayCapture = NicCapture.Start(path, "underlay", $"butterflyd underlay {Native.Shim.PortName(_underlay)} (VXLAN)", CaptureLimits,
            verdicts: false, out _underlayCaptureError);
        if (_underlayCapture is null)
        {
            _log.Warning("--packet-trace: the underlay is not traced: {Error}", _underlayCaptureError);
            return;
        }
        _captureWriter.Add(_underlayCapture);
        _thread.PublishCaptures(CaptureRings());
        _log.Information("--packet-trace: the underlay is traced to {Path}", path);
    }

    /// <summary>
    /// Makes the captures those of the NICs that have a port and packet_trace on, each to its path;
    /// called by Reconcile once the ports are settled. Errors are kept per NIC for nic_stats.
    /// </summary>
    private void ReconcileCaptures()
    {
        var stopped = new List<NicCapture>();
        foreach (var (id, capture) in _captures.ToList())
        {
            if (!_nics.TryGetValue(id, out var port) || port.Nic.TracePath != capture.Path)
            {
                _captures.Remove(id);
                stopped.Add(capture);
            }
        }
        foreach (var id in _captureErrors.Keys.ToList())
        {
            if (!_nics.TryGetValue(id, out var port) || port.Nic.TracePath is null)
            {
                _captureErrors.Remove(id);
            }
        }
        foreach (var port in _nics.Values)
        {
            if (port.Nic.TracePath is not { } path || _captures.ContainsKey(port.Nic.Id))
            {
                continue;
            }
            if (CaptureOwnerOf(path) is { } owner)
            {
                // The API refuses this; a log written before it did may still hold such a pair.
                _captureErrors[port.Nic.Id] = $"'{path}' is already the capture of {owner}: two captures cannot share a file";
                _log.Warning("NIC {Nic}: packet_trace: {Error}", port.Nic.Id, _captureErrors[port.Nic.Id]);
                continue;
            }
            var capture = NicCapture.Start(path, port.Nic.Id, $"butterfly NIC {port.Nic.Id} ({port.Device}), VNI {port.Nic.Vni}", CaptureLimits,
                verdicts: true, out var error);
            if (capture is null)
            {
                _captureErrors[port.Nic.Id] = error!;
                _log.Warning("NIC {Nic}: packet_trace: {Error}", port.Nic.Id, error);
                continue;
            }
            _captureErrors.Remove(port.Nic.Id);
            _captures.Add(port.Nic.Id, capture);
            _captureWriter.Add(capture);
            _log.Information("NIC {Nic}: packet_trace to {Path}", port.Nic.Id, path);
        }
        _thread.PublishCaptures(CaptureRings());
        if (stopped.Count == 0)
        {
            return;
        }
        PacketThread.WaitQuiescent();
        foreach (var capture in stopped)
        {
            _captureWriter.Remove(capture);
            capture.Stop();
            _log.Information("packet_trace to {Path} stopped", capture.Path);
        }
    }

    /// <summary>Who already captures to <paramref name="path"/> ("NIC id" or "the underlay"), or null.</summary>
    private string? CaptureOwnerOf(string path)
    {
        var full = Path.GetFullPath(path);
        foreach (var (id, capture) in _captures)
        {
            if (string.Equals(Path.GetFullPath(capture.Path), full, StringComparison.Ordinal))
            {
                return $"NIC {id}";
            }
        }
        return _underlayCapture is not null && string.Equals(Path.GetFullPath(_underlayCapture.Path), full, StringComparison.Ordinal)
            ? "the underlay"
            : null;
    }

    /// <summary>The rings of the traced ports by handle, as the packet thread indexes them.</summary>
    private CaptureRing?[] CaptureRings()
    {
        var rings = new CaptureRing?[PortHandles.Count];
        foreach (var (id, capture) in _captures)
        {
            if (_nics.TryGetValue(id, out var port))
            {
                rings[port.Handle] = capture.Ring;
            }
        }
        if (_underlayCapture is not null)
        {
            rings[_underlay] = _underlayCapture.Ring;
        }
        return rings;
    }

    /// <summary>A NIC's capture figures, or null when it is not traced.</summary>
    private TraceCounters? TraceOf(NicPort port)
    {
        if (_captures.TryGetValue(port.Nic.Id, out var capture))
        {
            return capture.Counters();
        }
        return port.Nic.TracePath is { } path && _captureErrors.TryGetValue(port.Nic.Id, out var error)
            ? new TraceCounters(path, 0, 0, 0, 0, error)
            : null;
    }

    /// <summary>The underlay's capture figures for the DOT graph, or null without --packet-trace.</summary>
    private TraceCounters? UnderlayTrace() =>
        _underlayCapture?.Counters()
        ?? (_options.PacketTrace ? new TraceCounters(_options.UnderlayTracePath ?? DefaultUnderlayTracePath, 0, 0, 0, 0, _underlayCaptureError) : null);

    /// <summary>Closes every capture; the packet thread has stopped.</summary>
    private void StopCaptures()
    {
        foreach (var capture in _captures.Values)
        {
            capture.Stop();
        }
        _captures.Clear();
        _underlayCapture?.Stop();
        _underlayCapture = null;
        _captureWriter.Dispose();
    }
}
