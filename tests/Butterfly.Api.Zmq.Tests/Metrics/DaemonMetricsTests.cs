using System.Text;
using Butterfly.Api.Zmq.Metrics;
using Butterfly.Api.Zmq.Options;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Dpdk;
using Butterfly.Wire;

namespace Butterfly.Api.Zmq.Tests.Metrics;

/// <summary>
/// The metrics as an exposition, fed synthetic data-path readings: mirrored counters, counter
/// resets, series of NICs that are gone, request types, appends and the snapshot gauges; and
/// the --metrics-endpoint option.
/// </summary>
public class DaemonMetricsTests
{
    private static readonly string[] Required = ["-i", "10.0.0.1", "-s", "/run/bf"];

    private DataPathReading? _reading;
    private ConfigurationReading _configuration = new(0, 0, 0);

    [Fact]
    public void Nic_counters_are_mirrored_with_their_nic_and_vni_and_a_port_made_anew_starts_a_new_series()
    {
        var metrics = New();
        _reading = Reading(("vm1", 42u, new NicCounters(1000, 2000, 10, 20, 1, [new DropCount("spoof_source_ip", 3)])));
        var first = Export(metrics);
        Assert.Contains("butterfly_nic_in_bytes_total{nic=\"vm1\",vni=\"42\"} 1000", first, StringComparison.Ordinal);
        Assert.Contains("butterfly_nic_out_packets_total{nic=\"vm1\",vni=\"42\"} 20", first, StringComparison.Ordinal);
        Assert.Contains("butterfly_nic_filter_dropped_packets_total{nic=\"vm1\",vni=\"42\",reason=\"spoof_source_ip\"} 3", first, StringComparison.Ordinal);

        _reading = Reading(("vm1", 42u, new NicCounters(1500, 2000, 15, 20, 1, [new DropCount("spoof_source_ip", 3)])));
        Assert.Contains("butterfly_nic_in_bytes_total{nic=\"vm1\",vni=\"42\"} 1500", Export(metrics), StringComparison.Ordinal);

        // The port was made again: its counters start from zero, and so does the series.
        _reading = Reading(("vm1", 42u, new NicCounters(64, 0, 1, 0, 0)));
        var reset = Export(metrics);
        Assert.Contains("butterfly_nic_in_bytes_total{nic=\"vm1\",vni=\"42\"} 64", reset, StringComparison.Ordinal);
        Assert.DoesNotContain("reason=\"spoof_source_ip\"", reset, StringComparison.Ordinal);
    }

    [Fact]
    public void The_series_of_a_nic_that_is_gone_are_removed()
    {
        var metrics = New();
        _reading = Reading(("vm1", 1u, new NicCounters(1, 1, 1, 1, 0)), ("vm2", 2u, new NicCounters(2, 2, 2, 2, 0, [new DropCount("firewall_inbound_denied", 5)])));
        Assert.Contains("nic=\"vm2\"", Export(metrics), StringComparison.Ordinal);

        _reading = Reading(("vm1", 1u, new NicCounters(1, 1, 1, 1, 0)));
        var after = Export(metrics);
        Assert.DoesNotContain("nic=\"vm2\"", after, StringComparison.Ordinal);
        Assert.Contains("butterfly_nic_in_bytes_total{nic=\"vm1\",vni=\"1\"} 1", after, StringComparison.Ordinal);
    }

    [Fact]
    public void Packet_thread_figures_tables_and_the_configuration_are_read_at_scrape_time()
    {
        var metrics = New();
        _reading = Reading() with
        {
            Thread = new PacketThreadStats(1, 0, 900, 100, 3200, 110, 5_000_000, 95_000_000, 2_000_000_000,
                [new DropCount("no_destination", 7)], new ConntrackStats(12, 1024, 40, 28, 17)),
            LearnedMacs = 3,
            UnderlayNeighbours = 2,
        };
        _configuration = new ConfigurationReading(17, 4, 2);
        var text = Export(metrics);
        foreach (var line in new[]
        {
            "butterfly_packet_thread_rounds_total 900", "butterfly_packet_thread_busy_cycles_total 5000000",
            "butterfly_packet_thread_idle_cycles_total 95000000", "butterfly_packet_thread_tsc_hertz 2000000000",
            "butterfly_datapath_dropped_packets_total{reason=\"no_destination\"} 7", "butterfly_learned_macs 3",
            "butterfly_underlay_neighbours 2", "butterfly_conntrack_entries 12", "butterfly_conntrack_capacity 1024",
            "butterfly_conntrack_opened_total 40", "butterfly_firewall_version 17", "butterfly_event_store_last_sequence 17",
            "butterfly_configured_nics 4", "butterfly_configured_security_groups 2",
        })
        {
            Assert.Contains(line + "\n", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Requests_are_counted_by_type_and_outcome_and_timed_per_message()
    {
        var metrics = New();
        var items = new[] { Item(new MessageV0.Types.Request { NicList = true }), Item(new MessageV0.Types.Request { NicDel = "x" }) };
        var reply = new Messages();
        reply.Messages_.Add(Reply(true));
        reply.Messages_.Add(Reply(false));
        metrics.ObserveRequest(items, reply, refused: false, System.Diagnostics.Stopwatch.GetTimestamp());
        metrics.ObserveRequest([items[0]], new Messages { Messages_ = { Reply(true) } }, refused: false, System.Diagnostics.Stopwatch.GetTimestamp());
        metrics.ObserveRequest([], null, refused: true, System.Diagnostics.Stopwatch.GetTimestamp());

        var text = Export(metrics);
        Assert.Contains("butterfly_api_requests_total{request=\"nic_list\",status=\"ok\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_api_requests_total{request=\"nic_del\",status=\"failed\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_api_requests_total{request=\"invalid\",status=\"refused\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_api_request_duration_seconds_count{request=\"batch\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_api_request_duration_seconds_count{request=\"nic_list\"} 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Appends_are_timed_and_the_snapshot_gauges_show_the_newest_snapshot()
    {
        var time = new ManualTime(DateTimeOffset.Parse("2026-01-01T00:10:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var metrics = new DaemonMetrics(() => _reading, () => _configuration, time);
        Assert.DoesNotContain("\nbutterfly_snapshot_age_seconds ", Export(metrics), StringComparison.Ordinal);

        metrics.ObserveAppend(TimeSpan.FromMilliseconds(3), 5, failed: false);
        metrics.ObserveAppend(TimeSpan.FromSeconds(6), 1, failed: true);
        metrics.SnapshotSeen(2000, time.GetUtcNow().AddMinutes(-2));
        metrics.SnapshotSeen(1000, time.GetUtcNow().AddMinutes(-9));
        _configuration = new ConfigurationReading(2150, 0, 0);

        var text = Export(metrics);
        Assert.Contains("butterfly_event_store_append_duration_seconds_count 2\n", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_event_store_append_duration_seconds_bucket{le=\"0.005\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_event_store_appended_events_total 5\n", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_event_store_append_failures_total 1\n", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_snapshot_sequence 2000\n", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_snapshot_age_seconds 120\n", text, StringComparison.Ordinal);
        Assert.Contains("butterfly_events_since_snapshot 150\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_runtimes_collections_and_their_pauses_are_counted()
    {
        var metrics = new DaemonMetrics(() => _reading, () => _configuration);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        var before = GcCount(Export(metrics), "2");
        Assert.True(before >= 1, "a forced gen 2 collection happened");

        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        var text = Export(metrics);
        Assert.True(GcCount(text, "2") >= before + 1, "the counter follows the runtime");
        Assert.True(GcCount(text, "0") >= GcCount(text, "2"), "a gen 2 collection counts in gen 0 too");
        Assert.Matches(@"\nbutterfly_gc_pause_seconds_total [0-9.eE-]+\n", text);
        Assert.Matches(@"\nbutterfly_gc_heap_bytes [1-9][0-9.eE+]*\n", text);
    }

    private static double GcCount(string text, string generation)
    {
        var match = System.Text.RegularExpressions.Regex.Match(text, $"butterfly_gc_collections_total{{generation=\"{generation}\"}} ([0-9.eE+]+)\n");
        Assert.True(match.Success, $"generation {generation} in the scrape");
        return double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData("127.0.0.1:9110", "127.0.0.1", 9110)]
    [InlineData("[::1]:9110", "[::1]", 9110)]
    [InlineData("*:80", "*", 80)]
    [InlineData("localhost:9110", "localhost", 9110)]
    public void The_metrics_endpoint_is_host_and_port(string text, string host, int port)
    {
        var loaded = OptionsLoader.Load([.. Required, "--metrics-endpoint", text], _ => "");
        Assert.Equal(new MetricsEndpoint(host, port), loaded.Options!.MetricsEndpoint);
    }

    [Fact]
    public void Metrics_are_off_by_default_come_from_the_ini_file_too_and_a_bad_endpoint_stops_the_start()
    {
        Assert.Null(OptionsLoader.Load(Required, _ => "").Options!.MetricsEndpoint);
        var fromIni = OptionsLoader.Load(["-c", "b.ini", .. Required], _ => "[general]\nmetrics-endpoint = 127.0.0.1:9111\n");
        Assert.Equal(new MetricsEndpoint("127.0.0.1", 9111), fromIni.Options!.MetricsEndpoint);
        foreach (var bad in new[] { "9110", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "example.org:9110", "::1:9110", "10.1:9110" })
        {
            var failed = OptionsLoader.Load([.. Required, "--metrics-endpoint", bad], _ => "");
            Assert.Equal(StartupAction.Fail, failed.Action);
            Assert.Contains("--metrics-endpoint", failed.Error, StringComparison.Ordinal);
        }
    }

    private DaemonMetrics New() => new(() => _reading, () => _configuration);

    private static DataPathReading Reading(params (string Nic, uint Vni, NicCounters Counters)[] nics) =>
        new([.. nics.Select(n => new NicReading(n.Nic, n.Vni, n.Counters))], default,
            new PacketThreadStats(1, 0, 0, 0, 0, 0, 0, 0, 0, []), 0, 16384, 0);

    private static Message Item(MessageV0.Types.Request request) => new() { Revision = 0, Message0 = new MessageV0 { Request = request } };

    private static Message Reply(bool ok) => new()
    {
        Revision = 0,
        Message0 = new MessageV0 { Response = new MessageV0.Types.Response { Status = new MessageV0.Types.Status { Status_ = ok } } },
    };

    private static string Export(DaemonMetrics metrics)
    {
        using var stream = new MemoryStream();
        metrics.Registry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private sealed class ManualTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

/// <summary>docs/grafana-dashboard.json: every query parses (promtool check rules) and names only metrics the daemon exports.</summary>
public class GrafanaDashboardTests
{
    [Fact]
    public async Task Every_query_parses_and_names_only_exported_metrics()
    {
        var path = Path.Combine(Butterfly.TestKit.RepoPaths.RepoRoot, "docs", "grafana-dashboard.json");
        using var dashboard = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var queries = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString()!)
            .ToList();
        Assert.NotEmpty(queries);

        var metrics = new DaemonMetrics(() => null, () => default);
        metrics.ObserveAppend(TimeSpan.Zero, 1, failed: false);
        metrics.SnapshotSeen(1, DateTimeOffset.UtcNow);
        metrics.ObserveRequest([new Message { Revision = 0, Message0 = new MessageV0 { Request = new MessageV0.Types.Request { NicList = true } } }], null, false, 0);
        using var stream = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(stream);
        var exported = Encoding.UTF8.GetString(stream.ToArray()).Split('\n')
            .Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal))
            .Select(l => l.Split(' ')[2])
            .ToHashSet(StringComparer.Ordinal);
        foreach (var name in queries.SelectMany(q => System.Text.RegularExpressions.Regex.Matches(q, @"butterfly_[a-z_]+").Select(m => m.Value)))
        {
            var family = System.Text.RegularExpressions.Regex.Replace(name, "_(bucket|count|sum)$", "");
            Assert.True(exported.Contains(family), $"the dashboard queries {name}, which the daemon does not export");
        }

        // Grafana's variables become what they stand for, and each query a recording rule promtool parses.
        var rules = new StringBuilder("groups:\n- name: dashboard\n  rules:\n");
        for (var i = 0; i < queries.Count; i++)
        {
            var expr = queries[i].Replace("$__rate_interval", "5m", StringComparison.Ordinal).Replace("$instance", ".*", StringComparison.Ordinal)
                .Replace("$nic", ".*", StringComparison.Ordinal);
            rules.Append(System.Globalization.CultureInfo.InvariantCulture, $"  - record: dashboard:query{i}\n    expr: '{expr.Replace("'", "''", StringComparison.Ordinal)}'\n");
        }
        var file = Path.Combine(Path.GetTempPath(), $"bf-dashboard-{Guid.NewGuid():N}.yml");
        File.WriteAllText(file, rules.ToString());
        try
        {
            var info = new System.Diagnostics.ProcessStartInfo("promtool", ["check", "rules", file])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var promtool = System.Diagnostics.Process.Start(info)!;
            var output = promtool.StandardOutput.ReadToEnd() + promtool.StandardError.ReadToEnd();
            promtool.WaitForExit();
            Assert.True(promtool.ExitCode == 0, $"promtool check rules: {output}\n{rules}");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
