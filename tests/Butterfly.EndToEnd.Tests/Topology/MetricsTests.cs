using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Butterfly.TestKit;
using Butterfly.Wire;
using static Butterfly.EndToEnd.Tests.Topology.Traffic;

namespace Butterfly.EndToEnd.Tests.Topology;

/// <summary>
/// The metrics endpoint scraped for real while traffic moves. One daemon with
/// <c>--metrics-endpoint</c>, two tap NICs of VNI 710 in namespaces of their own:
///
///            ┌──────────── butterflyd ─────────────┐   GET http://127.0.0.1:PORT/metrics
///            │ VNI 710: open (bypass), shut        │ ◄──── the test (HttpClient, promtool)
///            └──────┬─────────────────────┬────────┘
///               tap │                 tap │
///        ┌──────────┴─────┐     ┌─────────┴──────────────────────────┐
///        │ netns open     │     │ netns shut: anti-spoofed, no group  │
///        │ 10.71.0.1/24   │     │ 10.71.0.2/24 (inbound denied)       │
///        └────────────────┘     └─────────────────────────────────────┘
///
/// open → shut pings are dropped by shut's firewall (firewall_inbound_denied on shut); shut →
/// open pings pass and are tracked (a connection in the table). Each scrape is checked by
/// <c>promtool check metrics</c> (Debian's prometheus package) and its values are compared with
/// the previous scrape's.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class MetricsTests : IAsyncLifetime
{
    private const uint Vni = 710;
    private readonly NetworkNamespaces _namespaces = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private DaemonProcess? _daemon;
    private int _metricsPort;
    private Vm _open = null!;
    private Vm _shut = null!;

    public async Task InitializeAsync()
    {
        _metricsPort = FreePort();
        _daemon = await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            LogLevel = "info",
            ExtraArgs = ["--metrics-endpoint", $"127.0.0.1:{_metricsPort}"],
        });
        using var client = _daemon.CreateClient();
        _open = AddVm(client, "open", 1, bypass: true);
        _shut = AddVm(client, "shut", 2, bypass: false);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        try
        {
            if (_daemon is not null)
            {
                await _daemon.DisposeAsync();
            }
        }
        finally
        {
            _namespaces.Dispose();
        }
    }

    [Fact]
    public async Task A_scrape_passes_promtool_and_its_counters_follow_the_traffic()
    {
        var before = await ScrapeAsync();

        var denied = Ping(_open, _shut.Ipv4, count: 3);
        Assert.False(denied.Ok, $"open → shut must be refused by shut's firewall: {denied.Output}");
        AssertOk(Ping(_shut, _open.Ipv4, count: 3), "shut → open");

        var after = await ScrapeAsync();
        AssertPromtoolAccepts(after.Text);

        string[] openNic = [$"nic=\"{_open.Tap}\"", $"vni=\"{Vni}\""];
        string[] shutNic = [$"nic=\"{_shut.Tap}\"", $"vni=\"{Vni}\""];
        // Six echo requests and three replies from open, three requests from shut: the counters moved by at least that.
        Assert.True(after.Value("butterfly_nic_in_packets_total", openNic) >= before.Value("butterfly_nic_in_packets_total", openNic) + 6, Show(before, after));
        Assert.True(after.Value("butterfly_nic_out_packets_total", openNic) >= before.Value("butterfly_nic_out_packets_total", openNic) + 3, Show(before, after));
        Assert.True(after.Value("butterfly_nic_in_bytes_total", shutNic) >= before.Value("butterfly_nic_in_bytes_total", shutNic) + (3 * 98), Show(before, after));
        Assert.True(after.Value("butterfly_nic_out_bytes_total", shutNic) >= before.Value("butterfly_nic_out_bytes_total", shutNic) + (3 * 98), Show(before, after));
        string[] deniedOnShut = [.. shutNic, "reason=\"firewall_inbound_denied\""];
        Assert.True(after.Value("butterfly_nic_filter_dropped_packets_total", deniedOnShut) >= before.Value("butterfly_nic_filter_dropped_packets_total", deniedOnShut) + 3,
            Show(before, after));
        Assert.True(after.Value("butterfly_packet_thread_packets_total") >= before.Value("butterfly_packet_thread_packets_total") + 12, Show(before, after));
        Assert.True(after.Value("butterfly_packet_thread_busy_cycles_total") > before.Value("butterfly_packet_thread_busy_cycles_total"), Show(before, after));
        Assert.True(after.Value("butterfly_packet_thread_rounds_total") > before.Value("butterfly_packet_thread_rounds_total"), Show(before, after));
        Assert.True(after.Value("butterfly_conntrack_opened_total") > before.Value("butterfly_conntrack_opened_total"), Show(before, after));
        Assert.Equal(1_048_576, after.Value("butterfly_conntrack_capacity"));

        // The two nic_add of the set-up and the nic_stats below are counted by type, with their latency.
        Assert.True(after.Value("butterfly_api_requests_total", "request=\"nic_add\"", "status=\"ok\"") >= 2, after.Text);
        Assert.True(after.Value("butterfly_api_request_duration_seconds_count", "request=\"nic_add\"") >= 2, after.Text);
        Assert.True(after.Value("butterfly_event_store_append_duration_seconds_count") >= 2, after.Text);
        Assert.True(after.Value("butterfly_event_store_last_sequence") >= 2, after.Text);
        Assert.Equal(2, after.Value("butterfly_configured_nics"));
    }

    [Fact]
    public async Task The_series_of_a_removed_nic_are_gone_from_the_next_scrape()
    {
        using var client = _daemon!.CreateClient();
        var extra = Requests.Nic($"bfm{_daemon.Port}x", vni: Vni, type: MessageV0.Types.Nic.Types.Type.Tap);
        client.CallOk(Requests.NicAdd(extra));
        var with = await ScrapeAsync();
        Assert.Contains($"nic=\"{extra.Id}\"", with.Text, StringComparison.Ordinal);

        client.CallOk(Requests.NicDel(extra.Id));
        var without = await ScrapeAsync();
        AssertPromtoolAccepts(without.Text);
        Assert.DoesNotContain($"nic=\"{extra.Id}\"", without.Text, StringComparison.Ordinal);
        Assert.Contains($"nic=\"{_open.Tap}\"", without.Text, StringComparison.Ordinal);
    }

    private Vm AddVm(ApiClient client, string name, int host, bool bypass)
    {
        var vm = new Vm(name, $"bfm{_daemon!.Port}{name[0]}", $"52:54:00:71:00:0{host}", _namespaces.Create(name),
            $"10.71.0.{host}", $"fd71::{host}");
        var nic = Requests.Nic(vm.Tap, vm.Mac, Vni, ips: [vm.Ipv4], type: MessageV0.Types.Nic.Types.Type.Tap);
        nic.BypassFiltering = bypass;
        client.CallOk(Requests.NicAdd(nic));
        _namespaces.Attach(vm.Namespace, vm.Tap, vm.Mac, [vm.Ipv4 + "/24"]);
        return vm;
    }

    private async Task<Scrape> ScrapeAsync()
    {
        var text = await _http.GetStringAsync(new Uri($"http://127.0.0.1:{_metricsPort}/metrics"));
        return new Scrape(text);
    }

    /// <summary>promtool check metrics reads the exposition on stdin: exit 0 and no complaint.</summary>
    private static void AssertPromtoolAccepts(string exposition)
    {
        var info = new ProcessStartInfo("promtool")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("check");
        info.ArgumentList.Add("metrics");
        using var promtool = Process.Start(info) ?? throw new InvalidOperationException("cannot start promtool (scripts/setup.sh --test installs it)");
        var stdout = promtool.StandardOutput.ReadToEndAsync();
        var stderr = promtool.StandardError.ReadToEndAsync();
        promtool.StandardInput.Write(exposition);
        promtool.StandardInput.Close();
        Assert.True(promtool.WaitForExit(30_000), "promtool did not finish");
        Assert.True(promtool.ExitCode == 0, $"promtool check metrics: exit {promtool.ExitCode}\n{stdout.Result}{stderr.Result}");
    }

    private static string Show(Scrape before, Scrape after) => $"before:\n{before.Text}\nafter:\n{after.Text}";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>One exposition in the text format: a sample's value by its name and labels.</summary>
    private sealed class Scrape(string text)
    {
        public string Text { get; } = text;

        /// <summary>The value of the sample named <paramref name="name"/> whose labels include every one of <paramref name="labels"/>; 0 when there is none.</summary>
        public double Value(string name, params string[] labels)
        {
            foreach (var line in Text.Split('\n'))
            {
                if (line.StartsWith('#') || !line.StartsWith(name, StringComparison.Ordinal))
                {
                    continue;
                }
                var rest = line[name.Length..];
                if (rest.Length == 0 || (rest[0] != '{' && rest[0] != ' '))
                {
                    continue;
                }
                var space = rest.LastIndexOf(' ');
                var labelText = rest[..space];
                if (labels.All(l => labelText.Contains(l, StringComparison.Ordinal)))
                {
                    return double.Parse(rest[(space + 1)..], CultureInfo.InvariantCulture);
                }
            }
            return 0;
        }
    }
}
