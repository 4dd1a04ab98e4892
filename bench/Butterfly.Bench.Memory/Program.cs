using System.Diagnostics;
using System.Globalization;
using Butterfly.Application;
using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Butterfly.Domain.Configuration;
using Butterfly.Domain.Events;
using Butterfly.Domain.Nics;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.Bench.Memory;

/// <summary>
/// How butterflyd's memory depends on the length of its history. For each event count it
/// writes a file log whose events add and remove NICs (so the configuration at the end is
/// empty, with a snapshot at the end as a running daemon would have left), starts butterflyd
/// on it, and reads VmRSS: once the API answers, and again after `events` has paged through
/// every event and `state --at` has rebuilt an early and the last point.
/// <code>
/// bench/Butterfly.Bench.Memory/bin/Release/net10.0/Butterfly.Bench.Memory [--daemon PATH] [EVENTS...]   (default: 0 200000)
/// </code>
/// --daemon runs that butterflyd (e.g. the package's self-contained ReadyToRun one) instead of the built one.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        string? executable = null;
        if (args is ["--daemon", var path, ..])
        {
            executable = Path.GetFullPath(path);
            args = args[2..];
        }
        var counts = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [0, 200_000];
        Console.WriteLine("| events in the log | log size | RSS once the API answers | RSS after paging every event + state --at | peak RSS (VmHWM) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        foreach (var count in counts)
        {
            var directory = Directory.CreateTempSubdirectory("bfbench-mem-").FullName;
            try
            {
                var bytes = await WriteLogAsync(Path.Combine(directory, "events"), count);
                var (start, after, peak) = await MeasureAsync("file:" + Path.Combine(directory, "events"), count, executable);
                Console.WriteLine($"| {count:N0} | {bytes / 1048576.0:0.0} MiB | {start / 1024.0:0.0} MiB | {after / 1024.0:0.0} MiB | {peak / 1024.0:0.0} MiB |");
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        return 0;
    }

    /// <summary>Pairs of NicAdded / NicRemoved in batches of 100, then a snapshot of the (empty) configuration.</summary>
    private static async Task<long> WriteLogAsync(string directory, int count)
    {
        await using (var store = await FileEventStore.OpenAsync(directory, Serilog.Core.Logger.None))
        {
            var origin = new RequestOrigin("tcp://127.0.0.1:9999 peer bench", null);
            var batch = new List<NewEvent>(100);
            for (var i = 0; i < count; i++)
            {
                var id = $"vm{i / 2 % 5000}";
                DomainEvent e = i % 2 == 0
                    ? new NicAdded(new NicSpec(id, "52:54:00:00:00:01", (uint)(i % 4000) + 1, [$"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}"], ["sg-web"]))
                    : new NicRemoved(id);
                batch.Add(EventSerializer.ToNewEvent(e, origin));
                if (batch.Count == 100 || i == count - 1)
                {
                    await store.AppendAsync(batch);
                    batch.Clear();
                }
            }
            if (count > 0)
            {
                await store.SaveSnapshotAsync(new StoredSnapshot(count, DateTimeOffset.UtcNow, EventSerializer.SerializeState(ConfigurationState.Empty)));
            }
        }
        return Directory.EnumerateFiles(directory, "events-*.log").Sum(f => new FileInfo(f).Length);
    }

    private static async Task<(long Start, long After, long Peak)> MeasureAsync(string eventStore, int count, string? executable)
    {
        await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            EventStore = eventStore,
            Executable = executable,
            LogLevel = "error",
            StartTimeout = TimeSpan.FromMinutes(5),
        });
        using var api = daemon.CreateClient(TimeSpan.FromMinutes(2));
        await Task.Delay(2000);
        var start = Status(daemon.Pid, "VmRSS");
        Console.Error.WriteLine($"{count} events, once the API answers: {Breakdown(daemon.Pid)}");

        long after = 0;
        long seen = 0;
        var watch = Stopwatch.StartNew();
        for (ulong next = 0; ;)
        {
            var page = api.CallOk(new MessageV0.Types.Request { EventList = new MessageV0.Types.EventListReq { AfterSequence = next, Limit = 10_000 } }).EventList;
            seen += page.Event.Count;
            if (!page.HasNextAfterSequence)
            {
                break;
            }
            next = page.NextAfterSequence;
        }
        if (seen != count)
        {
            throw new InvalidOperationException($"paged {seen} events, expected {count}");
        }
        if (count > 0)
        {
            api.CallOk(Requests.StateAt(1000));
            api.CallOk(Requests.StateAt((ulong)count));
            api.CallOk(new MessageV0.Types.Request { EventList = new MessageV0.Types.EventListReq { NicId = "vm42", Limit = 10_000 } });
        }
        Console.Error.WriteLine($"{count} events: paged in {watch.ElapsedMilliseconds} ms");
        await Task.Delay(1000);
        after = Status(daemon.Pid, "VmRSS");
        var peak = Status(daemon.Pid, "VmHWM");
        return (start, after, peak);
    }

    /// <summary>The largest resident mappings of /proc/PID/smaps, by name (anonymous memory as "anon").</summary>
    private static string Breakdown(int pid)
    {
        var byName = new Dictionary<string, long>(StringComparer.Ordinal);
        var name = "anon";
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-', StringComparison.Ordinal) && !fields[0].EndsWith(':'))
            {
                name = fields.Length >= 6 ? Path.GetFileName(fields[5]) : "anon";
            }
            else if (fields is ["Rss:", var kb, "kB"])
            {
                byName[name] = byName.GetValueOrDefault(name) + long.Parse(kb, CultureInfo.InvariantCulture);
            }
        }
        return string.Join(", ", byName.OrderByDescending(p => p.Value).Take(12).Select(p => $"{p.Key} {p.Value / 1024.0:0.0} MiB"));
    }

    /// <summary>A field of /proc/PID/status in kB.</summary>
    private static long Status(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException($"no {field} in /proc/{pid}/status");
    }
}
