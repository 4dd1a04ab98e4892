using System.Diagnostics;
using Butterfly.Bench.Api;
using Butterfly.TestKit;

// Usage: butterfly-bench-api [--pg CONNECTION_STRING] [--seconds N] [--daemon PATH] [--only reads|restart]
//        butterfly-bench-api --firewall [ENDPOINT]
// --daemon runs that butterflyd (e.g. the package's self-contained ReadyToRun one) instead of the
// built one; --only measures one group of figures (restart: 5 restarts on a file log of 10 000 events).
// Starts real daemons (TestKit.DaemonProcess), drives them through real ZeroMQ sockets and
// prints one line per figure. With --pg, the write and restart figures are also measured on
// PostgreSQL (each run in a fresh schema). --firewall measures security-group changes instead,
// against the daemon at ENDPOINT (e.g. one carrying traffic) or one it starts.
var seconds = 5;
string? pg = null;
string? executable = null;
string? only = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--pg": pg = args[++i]; break;
        case "--seconds": seconds = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
        case "--daemon": executable = Path.GetFullPath(args[++i]); break;
        case "--only" when i + 1 < args.Length && args[i + 1] is "reads" or "restart": only = args[++i]; break;
        case "--firewall":
            var endpoint = i + 1 < args.Length ? args[i + 1] : null;
            await using (var own = endpoint is null ? await DaemonProcess.StartAsync(new DaemonStartOptions { LogLevel = "error" }) : null)
            {
                using var client = new ApiClient(endpoint ?? own!.Endpoint, TimeSpan.FromMinutes(5));
                FirewallChanges.RuleChanges(client, 500, "bench-rules");
                FirewallChanges.BigLoad(client, "bench-big");
            }
            return 0;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

var duration = TimeSpan.FromSeconds(seconds);
if (only is null or "reads")
{
    // The metrics endpoint's request histogram tells the daemon's share of a round trip (from
    // receiving the message to handing its reply to ZeroMQ); the rest is the two NetMQ ends and
    // the scheduler.
    var metrics = $"127.0.0.1:{ApiLoad.FreePort()}";
    await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions
    {
        LogLevel = "error",
        Executable = executable,
        ExtraArgs = ["--metrics-endpoint", metrics],
    });
    var before = await ApiLoad.ServerSecondsAsync(metrics, "nic_list");
    var reads = ApiLoad.Reads(daemon, 1, duration);
    var after = await ApiLoad.ServerSecondsAsync(metrics, "nic_list");
    Report("reads/s (nic_list, 1 client)", reads);
    Report("  round trip, µs", 1e6 / reads);
    Report("  of which in the daemon (receive -> reply to ZeroMQ), µs", 1e6 * (after.Sum - before.Sum) / (after.Count - before.Count));
    Report("reads/s (nic_list, 4 clients)", ApiLoad.Reads(daemon, 4, duration));
    if (only is null)
    {
        Report("batch of 1000 nic_add, ms", ApiLoad.BigBatchMilliseconds(daemon, 1000));
    }
}

foreach (var (name, store) in only is "reads" ? [] : Stores(pg))
{
    await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { LogLevel = "info", EventStore = store, Executable = executable });
    if (only is null)
    {
        Report($"acknowledged writes/s ({name}, 1 client)", ApiLoad.Writes(daemon, 1, duration, "w1"));
        Report($"acknowledged writes/s ({name}, 32 clients)", ApiLoad.Writes(daemon, 32, duration, "w32"));
    }
    ApiLoad.FillLog(daemon, 10_000);
    for (var run = 0; run < (only is "restart" ? 5 : 1); run++)
    {
        await daemon.StopAsync();
        var watch = Stopwatch.StartNew();
        await daemon.RestartAsync();
        Report($"restart with >= 10 000 events until the API answers ({name}), ms", watch.Elapsed.TotalMilliseconds);
    }
    // The daemon's own account of the last restart: from its first log line to the API listening.
    var lines = daemon.StandardError.Split('\n');
    var lastStart = Array.FindLastIndex(lines, l => l.Contains("butterflyd starting", StringComparison.Ordinal));
    foreach (var line in lines.Skip(lastStart).Where(l => l.Contains("starting", StringComparison.Ordinal)
        || l.Contains("opened in", StringComparison.Ordinal) || l.Contains("data path started", StringComparison.Ordinal)
        || l.Contains("Configuration loaded", StringComparison.Ordinal) || l.Contains("API listening", StringComparison.Ordinal)))
    {
        Console.WriteLine($"    daemon: {line.Trim()}");
    }
}

return 0;

static IEnumerable<(string Name, string? Store)> Stores(string? pg)
{
    yield return ("file", null);
    if (pg is not null)
    {
        yield return ("postgres", $"{pg};Schema=bench_{Guid.NewGuid().ToString("N")[..12]}");
    }
}

static void Report(string what, double value) => Console.WriteLine($"{what,-62} {value,12:N0}");
