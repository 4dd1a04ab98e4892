using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk;
using Prometheus;

namespace Butterfly.Api.Zmq.Metrics;

/// <summary>What the configuration looks like to a scrape: the last durable event, and how many NICs and groups there are.</summary>
internal readonly record struct ConfigurationReading(long LastSequence, int Nics, int SecurityGroups);

/// <summary>
/// butterflyd's Prometheus metrics (prometheus-net, text exposition format), in a registry of
/// their own. Two kinds:
/// <list type="bullet">
/// <item>observed as things happen, by the thread that does them: API requests by type and their
/// latency from receipt to reply (<see cref="ObserveRequest"/>, API thread), event-store appends
/// and their latency (<see cref="ObserveAppend"/>), the newest snapshot (<see cref="SnapshotSeen"/>);</item>
/// <item>read at scrape time, on the scraping thread (<see cref="Collect"/>): the data path's per-NIC
/// counters and drop reasons, the packet thread's figures and table sizes
/// (<see cref="DpdkDataPath.ReadForMetrics"/>: plain loads, no lock, nothing asked of the packet
/// thread), and the configuration's sequence and size.</item>
/// </list>
/// Counters that live in the data path are mirrored: a NIC whose port was made again (its counters
/// start from zero) gets a new series, which Prometheus reads as a counter reset, and the series of
/// a NIC that is gone are removed.
/// </summary>
internal sealed class DaemonMetrics
{
    private static readonly double[] RequestBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly double[] AppendBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Func<DataPathReading?> _readDataPath;
    private readonly Func<ConfigurationReading> _readConfiguration;
    private readonly TimeProvider _time;
    private readonly Lock _collectGate = new();

    private readonly Counter _nicInBytes;
    private readonly Counter _nicOutBytes;
    private readonly Counter _nicInPackets;
    private readonly Counter _nicOutPackets;
    private readonly Counter _nicDropped;
    private readonly Counter _nicFilterDropped;
    private readonly Counter _underlayInBytes;
    private readonly Counter _underlayOutBytes;
    private readonly Counter _underlayInPackets;
    private readonly Counter _underlayOutPackets;
    private readonly Counter _underlayDropped;
    private readonly Counter _threadRounds;
    private readonly Counter _threadBusyRounds;
    private readonly Counter _threadPackets;
    private readonly Counter _threadBursts;
    private readonly Counter _threadBusyCycles;
    private readonly Counter _threadIdleCycles;
    private readonly Gauge _threadTscHz;
    private readonly Counter _dataPathDropped;
    private readonly Gauge _learnedMacs;
    private readonly Gauge _learnedMacCapacity;
    private readonly Gauge _neighbours;
    private readonly Gauge _conntrackEntries;
    private readonly Gauge _conntrackCapacity;
    private readonly Counter _conntrackOpened;
    private readonly Counter _conntrackExpired;
    private readonly Gauge _firewallVersion;
    private readonly Counter _apiRequests;
    private readonly Histogram _apiDuration;
    private readonly Histogram _appendDuration;
    private readonly Counter _appendedEvents;
    private readonly Counter _appendFailures;
    private readonly Gauge _lastSequence;
    private readonly Gauge _configuredNics;
    private readonly Gauge _configuredGroups;
    private readonly Gauge _snapshotSequence;
    private readonly Gauge _snapshotAge;
    private readonly Gauge _eventsSinceSnapshot;
    private readonly Counter _gcCollections;
    private readonly Counter _gcPause;
    private readonly Gauge _gcHeap;

    /// <summary>Label sets of the mirrored per-NIC series published by the previous scrape, to remove those that are gone.</summary>
    private HashSet<LabelKey> _nicSeries = [];
    private HashSet<LabelKey> _filterSeries = [];
    private HashSet<LabelKey> _dropSeries = [];

    /// <summary>The newest snapshot loaded or saved: (sequence, timestamp), or null. Written by store calls, read by scrapes.</summary>
    private Tuple<long, DateTimeOffset>? _snapshot;

    public DaemonMetrics(Func<DataPathReading?> readDataPath, Func<ConfigurationReading> readConfiguration, TimeProvider? time = null)
    {
        _readDataPath = readDataPath;
        _readConfiguration = readConfiguration;
        _time = time ?? TimeProvider.System;
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        string[] nic = ["nic", "vni"];
        _nicInBytes = f.CreateCounter("butterfly_nic_in_bytes_total", "Bytes received from the NIC (sent by its VM).", nic);
        _nicOutBytes = f.CreateCounter("butterfly_nic_out_bytes_total", "Bytes the NIC's port accepted for sending (to its VM).", nic);
        _nicInPackets = f.CreateCounter("butterfly_nic_in_packets_total", "Frames received from the NIC (sent by its VM).", nic);
        _nicOutPackets = f.CreateCounter("butterfly_nic_out_packets_total", "Frames the NIC's port accepted for sending (to its VM).", nic);
        _nicDropped = f.CreateCounter("butterfly_nic_dropped_packets_total",
            "Frames from the NIC that were dropped, and frames its port refused.", nic);
        _nicFilterDropped = f.CreateCounter("butterfly_nic_filter_dropped_packets_total",
            "Frames to or from the NIC its anti-spoofing or firewall dropped, by reason.", [.. nic, "reason"]);
        _underlayInBytes = f.CreateCounter("butterfly_underlay_in_bytes_total", "Bytes received on the underlay port.");
        _underlayOutBytes = f.CreateCounter("butterfly_underlay_out_bytes_total", "Bytes the underlay port accepted for sending.");
        _underlayInPackets = f.CreateCounter("butterfly_underlay_in_packets_total", "Frames received on the underlay port.");
        _underlayOutPackets = f.CreateCounter("butterfly_underlay_out_packets_total", "Frames the underlay port accepted for sending.");
        _underlayDropped = f.CreateCounter("butterfly_underlay_dropped_packets_total",
            "Frames from the underlay that were dropped, refused for sending, or missed by the device.");
        _threadRounds = f.CreateCounter("butterfly_packet_thread_rounds_total", "Polling rounds of the packet thread (one pass over every port).");
        _threadBusyRounds = f.CreateCounter("butterfly_packet_thread_busy_rounds_total", "Polling rounds that received at least one frame.");
        _threadPackets = f.CreateCounter("butterfly_packet_thread_packets_total", "Frames the packet thread received, on every port.");
        _threadBursts = f.CreateCounter("butterfly_packet_thread_bursts_total", "Non-empty RX bursts.");
        _threadBusyCycles = f.CreateCounter("butterfly_packet_thread_busy_cycles_total", "TSC cycles spent in rounds that received frames.");
        _threadIdleCycles = f.CreateCounter("butterfly_packet_thread_idle_cycles_total", "TSC cycles spent in rounds that received nothing, sleeps included.");
        _threadTscHz = f.CreateGauge("butterfly_packet_thread_tsc_hertz", "Cycles per second of the packet thread's cycle counters.");
        _dataPathDropped = f.CreateCounter("butterfly_datapath_dropped_packets_total", "Frames the packet thread dropped, by reason.", ["reason"]);
        _learnedMacs = f.CreateGauge("butterfly_learned_macs", "Remote MACs learned behind VTEPs, all VNIs together.");
        _learnedMacCapacity = f.CreateGauge("butterfly_learned_macs_capacity", "Remote MACs the learning table holds at most.");
        _neighbours = f.CreateGauge("butterfly_underlay_neighbours", "Entries of the underlay neighbour cache (ARP / ND), resolved or being resolved.");
        _conntrackEntries = f.CreateGauge("butterfly_conntrack_entries", "Tracked connections, all NICs together.");
        _conntrackCapacity = f.CreateGauge("butterfly_conntrack_capacity", "Tracked connections the table holds at most (--conntrack-max).");
        _conntrackOpened = f.CreateCounter("butterfly_conntrack_opened_total", "Connections the firewall started tracking.");
        _conntrackExpired = f.CreateCounter("butterfly_conntrack_expired_total", "Connections swept after their timeout or their NIC.");
        _firewallVersion = f.CreateGauge("butterfly_firewall_version", "Event sequence the firewall in use was compiled from.");
        _apiRequests = f.CreateCounter("butterfly_api_requests_total",
            "API requests (MessageV0 items) by request type and outcome (ok, failed, or refused before dispatch).", ["request", "status"]);
        _apiDuration = f.CreateHistogram("butterfly_api_request_duration_seconds",
            "Time from receiving an API message to handing its reply to ZeroMQ, by request type ('batch' when one message mixes types).",
            ["request"], new HistogramConfiguration { Buckets = RequestBuckets });
        _appendDuration = f.CreateHistogram("butterfly_event_store_append_duration_seconds",
            "Time one durable append (a group of commands) takes in the event store, failed ones included.",
            new HistogramConfiguration { Buckets = AppendBuckets });
        _appendedEvents = f.CreateCounter("butterfly_event_store_appended_events_total", "Events made durable.");
        _appendFailures = f.CreateCounter("butterfly_event_store_append_failures_total", "Appends the event store did not confirm.");
        _lastSequence = f.CreateGauge("butterfly_event_store_last_sequence", "Sequence of the last durable event the daemon applied.");
        _configuredNics = f.CreateGauge("butterfly_configured_nics", "NICs in the configuration.");
        _configuredGroups = f.CreateGauge("butterfly_configured_security_groups", "Security groups in the configuration.");
        var unsetUntilKnown = new GaugeConfiguration { SuppressInitialValue = true };
        _snapshotSequence = f.CreateGauge("butterfly_snapshot_sequence", "Event sequence of the newest snapshot.", unsetUntilKnown);
        _snapshotAge = f.CreateGauge("butterfly_snapshot_age_seconds",
            "Seconds since the events of the newest snapshot were committed (absent until there is a snapshot).", unsetUntilKnown);
        _eventsSinceSnapshot = f.CreateGauge("butterfly_events_since_snapshot",
            "Events a restart would replay after the newest snapshot.", unsetUntilKnown);
        // The packet thread runs managed code: every blocking collection pauses it, however
        // short, so the runtime's collections are part of the data path's health.
        _gcCollections = f.CreateCounter("butterfly_gc_collections_total",
            "Garbage collections of the daemon's .NET runtime, by generation (a gen 1 collection counts in gen 0 too).", ["generation"]);
        _gcPause = f.CreateCounter("butterfly_gc_pause_seconds_total",
            "Time the .NET runtime held every managed thread, the packet thread included, for garbage collections.");
        _gcHeap = f.CreateGauge("butterfly_gc_heap_bytes", "Size of the .NET heap after the last garbage collection.");
        Registry.AddBeforeCollectCallback(Collect);
    }

    /// <summary>The registry holding every metric above (and nothing else).</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>
    /// Counts the items of one API message and its latency (since <paramref name="receivedTimestamp"/>,
    /// a <see cref="System.Diagnostics.Stopwatch"/> timestamp). <paramref name="reply"/> is the clear reply
    /// of a dispatched message; null with <paramref name="refused"/> for a message refused as a whole. API thread.
    /// </summary>
    public void ObserveRequest(IReadOnlyList<Butterfly.Wire.Message> items, Butterfly.Wire.Messages? reply, bool refused, long receivedTimestamp)
    {
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(receivedTimestamp).TotalSeconds;
        if (refused || items.Count == 0)
        {
            _apiRequests.WithLabels(RequestTypes.Invalid, "refused").Inc();
            _apiDuration.WithLabels(RequestTypes.Invalid).Observe(elapsed);
            return;
        }
        string? type = null;
        for (var i = 0; i < items.Count; i++)
        {
            var name = RequestTypes.Of(items[i]);
            type = type is null || type == name ? name : RequestTypes.Batch;
            var ok = reply is not null && i < reply.Messages_.Count && reply.Messages_[i].Message0?.Response?.Status?.Status_ == true;
            _apiRequests.WithLabels(name, ok ? "ok" : "failed").Inc();
        }
        _apiDuration.WithLabels(type!).Observe(elapsed);
    }

    /// <summary>Counts one append of <paramref name="events"/> events that took <paramref name="elapsed"/>. Any thread.</summary>
    public void ObserveAppend(TimeSpan elapsed, int events, bool failed)
    {
        _appendDuration.Observe(elapsed.TotalSeconds);
        if (failed)
        {
            _appendFailures.Inc();
        }
        else
        {
            _appendedEvents.Inc(events);
        }
    }

    /// <summary>A snapshot was loaded or saved; the newest one (by sequence) is the one the gauges show. Any thread.</summary>
    public void SnapshotSeen(long sequence, DateTimeOffset timestamp)
    {
        var seen = Tuple.Create(sequence, timestamp);
        var current = Volatile.Read(ref _snapshot);
        while ((current is null || current.Item1 < sequence) && Interlocked.CompareExchange(ref _snapshot, seen, current) is var found && found != current)
        {
            current = found;
        }
    }

    /// <summary>Reads what lives elsewhere into the metrics; called by prometheus-net before each scrape, on the scraping thread.</summary>
    internal void Collect()
    {
        // Two scrapes at once would race on the series bookkeeping; one waits for the other.
        lock (_collectGate)
        {
            var configuration = _readConfiguration();
            _lastSequence.Set(configuration.LastSequence);
            _configuredNics.Set(configuration.Nics);
            _configuredGroups.Set(configuration.SecurityGroups);
            if (Volatile.Read(ref _snapshot) is { } snapshot)
            {
                _snapshotSequence.Set(snapshot.Item1);
                _snapshotAge.Set(Math.Max(0, (_time.GetUtcNow() - snapshot.Item2).TotalSeconds));
                _eventsSinceSnapshot.Set(Math.Max(0, configuration.LastSequence - snapshot.Item1));
            }
            for (var generation = 0; generation <= GC.MaxGeneration; generation++)
            {
                _gcCollections.WithLabels(generation.ToString(System.Globalization.CultureInfo.InvariantCulture)).IncTo(GC.CollectionCount(generation));
            }
            _gcPause.IncTo(GC.GetTotalPauseDuration().TotalSeconds);
            _gcHeap.Set(GC.GetGCMemoryInfo().HeapSizeBytes);
            if (_readDataPath() is { } reading)
            {
                CollectDataPath(reading);
            }
        }
    }

    private void CollectDataPath(DataPathReading r)
    {
        var nicSeries = new HashSet<LabelKey>();
        var filterSeries = new HashSet<LabelKey>();
        foreach (var nic in r.Nics)
        {
            var vni = nic.Vni.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var key = new LabelKey(nic.Nic, vni, null);
            nicSeries.Add(key);
            var c = nic.Counters;
            Mirror(_nicInBytes, c.BytesIn, nic.Nic, vni);
            Mirror(_nicOutBytes, c.BytesOut, nic.Nic, vni);
            Mirror(_nicInPackets, c.PacketsIn, nic.Nic, vni);
            Mirror(_nicOutPackets, c.PacketsOut, nic.Nic, vni);
            Mirror(_nicDropped, c.Drops, nic.Nic, vni);
            foreach (var drop in c.FilterDrops ?? [])
            {
                filterSeries.Add(new LabelKey(nic.Nic, vni, drop.Reason));
                Mirror(_nicFilterDropped, drop.Frames, nic.Nic, vni, drop.Reason);
            }
        }
        foreach (var gone in _nicSeries.Except(nicSeries))
        {
            foreach (var counter in (Counter[])[_nicInBytes, _nicOutBytes, _nicInPackets, _nicOutPackets, _nicDropped])
            {
                counter.RemoveLabelled(gone.Nic, gone.Vni!);
            }
        }
        foreach (var gone in _filterSeries.Except(filterSeries))
        {
            _nicFilterDropped.RemoveLabelled(gone.Nic, gone.Vni!, gone.Reason!);
        }
        _nicSeries = nicSeries;
        _filterSeries = filterSeries;

        Mirror(_underlayInBytes, r.Underlay.BytesIn);
        Mirror(_underlayOutBytes, r.Underlay.BytesOut);
        Mirror(_underlayInPackets, r.Underlay.PacketsIn);
        Mirror(_underlayOutPackets, r.Underlay.PacketsOut);
        Mirror(_underlayDropped, r.Underlay.Drops);

        var t = r.Thread;
        Mirror(_threadRounds, t.Rounds);
        Mirror(_threadBusyRounds, t.BusyRounds);
        Mirror(_threadPackets, t.Packets);
        Mirror(_threadBursts, t.Bursts);
        Mirror(_threadBusyCycles, t.BusyCycles);
        Mirror(_threadIdleCycles, t.IdleCycles);
        _threadTscHz.Set(t.TscHz);
        var dropSeries = new HashSet<LabelKey>();
        foreach (var drop in t.Drops)
        {
            dropSeries.Add(new LabelKey(drop.Reason, null, null));
            Mirror(_dataPathDropped, drop.Frames, drop.Reason);
        }
        foreach (var gone in _dropSeries.Except(dropSeries))
        {
            _dataPathDropped.RemoveLabelled(gone.Nic);
        }
        _dropSeries = dropSeries;

        _learnedMacs.Set(r.LearnedMacs);
        _learnedMacCapacity.Set(r.LearnedMacCapacity);
        _neighbours.Set(r.UnderlayNeighbours);
        if (t.Conntrack is { } ct)
        {
            _conntrackEntries.Set(ct.Entries);
            _conntrackCapacity.Set(ct.Capacity);
            Mirror(_conntrackOpened, ct.Opened);
            Mirror(_conntrackExpired, ct.Expired);
            _firewallVersion.Set(ct.FirewallVersion);
        }
    }

    /// <summary>
    /// Makes a counter show a value counted elsewhere. A value below the one shown means the source
    /// started again (a port made anew): the series is dropped and started again, a counter reset.
    /// </summary>
    private static void Mirror(Counter counter, ulong value, params string[] labels)
    {
        var child = counter.WithLabels(labels);
        if (value < child.Value)
        {
            counter.RemoveLabelled(labels);
            child = counter.WithLabels(labels);
        }
        child.IncTo(value);
    }

    private static void Mirror(Counter counter, ulong value)
    {
        if (value < counter.Value)
        {
            // An unlabelled counter cannot be dropped; the packet thread's counters never go back.
            return;
        }
        counter.IncTo(value);
    }

    private readonly record struct LabelKey(string Nic, string? Vni, string? Reason);
}
