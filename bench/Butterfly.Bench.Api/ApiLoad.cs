using System.Diagnostics;
using Butterfly.TestKit;

namespace Butterfly.Bench.Api;

/// <summary>Request loops against a running daemon; each client is one REQ socket on its own thread.</summary>
internal static class ApiLoad
{
    public static double Reads(DaemonProcess daemon, int clients, TimeSpan duration) =>
        Run(daemon, clients, duration, (client, _, _) => client.CallOk(Requests.NicList()));

    /// <summary>sg_member_add of distinct members: every request appends one event.</summary>
    public static double Writes(DaemonProcess daemon, int clients, TimeSpan duration, string group) =>
        Run(daemon, clients, duration, (client, c, n) => client.CallOk(Requests.SgMemberAdd(group, Member(c, n))));

    public static double BigBatchMilliseconds(DaemonProcess daemon, int nics)
    {
        using var client = daemon.CreateClient(TimeSpan.FromMinutes(2));
        var requests = Enumerable.Range(0, nics).Select(n =>
            Requests.NicAdd(Requests.Nic($"b{n}", $"52:54:01:00:{n >> 8:x2}:{n & 0xff:x2}", 1)));
        var batch = Requests.Batch(requests);
        var watch = Stopwatch.StartNew();
        var reply = client.Send(batch);
        var elapsed = watch.Elapsed.TotalMilliseconds;
        var failed = reply.Messages_.Count(m => m.Message0?.Response?.Status?.Status_ != true);
        if (failed > 0)
        {
            Console.WriteLine($"    {failed} of {nics} nic_add failed, e.g. {reply.Messages_.First(m => m.Message0?.Response?.Status?.Status_ != true)}");
        }

        return elapsed;
    }

    /// <summary>Appends events until the log holds at least <paramref name="events"/> (batches of 500).</summary>
    public static void FillLog(DaemonProcess daemon, int events)
    {
        using var client = daemon.CreateClient(TimeSpan.FromMinutes(2));
        for (var done = 0; done < events; done += 500)
        {
            client.SendBatch(Enumerable.Range(done, 500).Select(n => Requests.SgMemberAdd("fill", Member(99, n))));
        }
    }

    /// <summary>The daemon's request-duration histogram for one request type: total seconds and count (its /metrics).</summary>
    public static async Task<(double Sum, double Count)> ServerSecondsAsync(string metricsEndpoint, string request)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri($"http://{metricsEndpoint}/metrics"));
        double Value(string series) => text.Split('\n')
            .Where(l => l.StartsWith(series + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .FirstOrDefault();
        var labels = $"{{request=\"{request}\"}}";
        return (Value("butterfly_api_request_duration_seconds_sum" + labels), Value("butterfly_api_request_duration_seconds_count" + labels));
    }

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Member(int client, int n) => $"10.{client}.{(n >> 8) & 0xff}.{n & 0xff}";

    private static double Run(DaemonProcess daemon, int clients, TimeSpan duration, Action<ApiClient, int, int> request)
    {
        var counts = new long[clients];
        var start = new Barrier(clients + 1);
        var threads = Enumerable.Range(0, clients).Select(c => new Thread(() =>
        {
            using var client = daemon.CreateClient();
            start.SignalAndWait();
            var watch = Stopwatch.StartNew();
            var n = 0;
            while (watch.Elapsed < duration)
            {
                request(client, c, n++);
            }

            counts[c] = n;
        })).ToList();
        threads.ForEach(t => t.Start());
        start.SignalAndWait();
        var total = Stopwatch.StartNew();
        threads.ForEach(t => t.Join());
        return counts.Sum() / total.Elapsed.TotalSeconds;
    }
}
