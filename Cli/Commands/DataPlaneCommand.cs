using System.Globalization;
using System.Text;
using System.Text.Json;
using Butterfly.Cli.CommandLine;
using Request = Butterfly.Wire.MessageV0.Types.Request;
using Stats = Butterfly.Wire.MessageV0.Types.PacketThreadStatsRes;

namespace Butterfly.Cli.Commands;

/// <summary>
/// <c>butterfly status dataplane [--clear] [--json]</c>: the packet thread's statistics
/// (protocol revision 8), printed like Open vSwitch's <c>ovs-appctl dpif-netdev/pmd-perf-show</c>.
/// <c>--clear</c> prints the interval that ends and starts a new one (<c>pmd-stats-clear</c>).
/// </summary>
internal static class DataPlaneCommand
{
    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true };

    public static ICliCommand Parse(ArgScanner s)
    {
        if (Words.WantsUsage(s, "status dataplane", out var usage))
            return usage;
        var clear = false;
        var json = false;
        while (s.TryNext(out var word))
        {
            switch (word)
            {
                case "--clear": clear = true; break;
                case "--json": json = true; break;
                default: throw s.Unexpected(word);
            }
        }
        var request = new Request { PacketThreadStats = new() };
        if (clear)
            request.PacketThreadStats.Clear = true;
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(request));
            if (reply is null)
                return 1;
            var stats = Requests.Response(reply).PacketThreadStats;
            if (stats is null)
            {
                ctx.Err.WriteLine("no packet-thread statistics received (butterflyd older than protocol revision 8?)");
                return 1;
            }
            ctx.Out.Write(json ? FormatJson(stats) + "\n" : Format(stats));
            return 0;
        });
    }

    /// <summary>The human-readable lines, one figure per line, then one line per drop reason.</summary>
    internal static string Format(Stats stats)
    {
        var text = new StringBuilder();
        void Line(string line) => text.Append(line).Append('\n');
        var cpu = stats.Cpu < 0 ? "not pinned" : Invariant($"cpu {stats.Cpu}");
        Line(Invariant($"packet thread: lcore {stats.Lcore}, {cpu}"));
        Line(Invariant($"measured: {Seconds(stats):0.000} s, TSC {stats.TscHz} Hz"));
        Line(Invariant($"rounds: {stats.Rounds} (busy: {stats.BusyRounds})"));
        Line(Invariant($"packets: {stats.Packets}"));
        Line(Invariant($"bursts: {stats.Bursts}"));
        Line("avg packets per burst: " + Number(Ratio(stats.Packets, stats.Bursts)));
        Line(Invariant($"busy cycles: {stats.BusyCycles} ({Number(Percent(stats.BusyCycles, stats))} %)"));
        Line(Invariant($"idle cycles: {stats.IdleCycles} ({Number(Percent(stats.IdleCycles, stats))} %)"));
        Line("avg cycles per packet: " + Number(Ratio(stats.BusyCycles, stats.Packets)));
        if (stats.PollGaps.Count > 0)
        {
            var longest = LongestPollGap(stats);
            Line(longest is null ? "longest stall: none measured"
                : Invariant($"longest stall: {(longest.Value.Bounded ? "<" : ">=")} {Micros(longest.Value.Microseconds)} (rounds >= {Micros(PollGapLimit(10))}: {PollGapsFrom(stats, 11)}, >= {Micros(PollGapLimit(13))}: {PollGapsFrom(stats, 14)})"));
        }
        if (stats.HasConntrackCapacity)
        {
            Line(Invariant($"conntrack: {stats.ConntrackEntries} of {stats.ConntrackCapacity} entries ({Number(Ratio(100 * stats.ConntrackEntries, stats.ConntrackCapacity))} %)"));
            Line(Invariant($"conntrack opened: {stats.ConntrackOpened}, swept: {stats.ConntrackExpired}"));
            Line(Invariant($"firewall version: event {stats.FirewallVersion}"));
        }
        Line(Invariant($"drops: {stats.Drop.Aggregate(0UL, (sum, d) => sum + d.Frames)}"));
        foreach (var drop in stats.Drop.Where(d => d.Frames != 0))
            Line(Invariant($"drop {drop.Reason}: {drop.Frames}"));
        return text.ToString();
    }

    /// <summary>The raw counters and the derived figures (null where nothing can be divided).</summary>
    internal static string FormatJson(Stats stats)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("lcore", stats.Lcore);
            w.WriteNumber("cpu", stats.Cpu);
            w.WriteNumber("seconds", Math.Round(Seconds(stats), 6));
            w.WriteNumber("tsc_hz", stats.TscHz);
            w.WriteNumber("rounds", stats.Rounds);
            w.WriteNumber("busy_rounds", stats.BusyRounds);
            w.WriteNumber("packets", stats.Packets);
            w.WriteNumber("bursts", stats.Bursts);
            Nullable(w, "packets_per_burst", Ratio(stats.Packets, stats.Bursts));
            w.WriteNumber("busy_cycles", stats.BusyCycles);
            w.WriteNumber("idle_cycles", stats.IdleCycles);
            Nullable(w, "busy_percent", Percent(stats.BusyCycles, stats));
            Nullable(w, "cycles_per_packet", Ratio(stats.BusyCycles, stats.Packets));
            if (stats.HasConntrackCapacity)
            {
                w.WriteNumber("conntrack_entries", stats.ConntrackEntries);
                w.WriteNumber("conntrack_capacity", stats.ConntrackCapacity);
                w.WriteNumber("conntrack_opened", stats.ConntrackOpened);
                w.WriteNumber("conntrack_expired", stats.ConntrackExpired);
                w.WriteNumber("firewall_version", stats.FirewallVersion);
            }
            if (stats.PollGaps.Count > 0)
            {
                w.WriteStartArray("poll_gaps");
                foreach (var count in stats.PollGaps)
                    w.WriteNumberValue(count);
                w.WriteEndArray();
                Nullable(w, "longest_poll_gap_us", LongestPollGap(stats)?.Microseconds);
            }
            w.WriteStartObject("drops");
            foreach (var drop in stats.Drop.Where(d => d.Frames != 0))
                w.WriteNumber(drop.Reason, drop.Frames);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Bound of poll-gap entry k in microseconds (revision 12): 2^k × 1.024.</summary>
    private static double PollGapLimit(int k) => 1.024 * Math.Pow(2, k);

    /// <summary>
    /// The longest non-empty poll-gap entry: its upper bound (every stall was shorter), or for
    /// the last entry, which has none, its lower bound (Bounded false: at least that long).
    /// </summary>
    private static (double Microseconds, bool Bounded)? LongestPollGap(Stats s)
    {
        for (var k = s.PollGaps.Count - 1; k >= 0; k--)
        {
            if (s.PollGaps[k] != 0)
                return k == s.PollGaps.Count - 1 ? (PollGapLimit(k - 1), false) : (PollGapLimit(k), true);
        }
        return null;
    }

    /// <summary>Rounds in entry <paramref name="first"/> and above: at least <see cref="PollGapLimit"/>(first - 1) long.</summary>
    private static ulong PollGapsFrom(Stats s, int first) => s.PollGaps.Skip(first).Aggregate(0UL, (sum, c) => sum + c);

    private static string Micros(double microseconds) =>
        microseconds >= 1000 ? Invariant($"{microseconds / 1000:0.###} ms") : Invariant($"{microseconds:0.###} µs");

    private static double Seconds(Stats s) => s.TscHz == 0 ? 0 : ((double)s.BusyCycles + s.IdleCycles) / s.TscHz;

    private static double? Ratio(ulong numerator, ulong denominator) => denominator == 0 ? null : (double)numerator / denominator;

    private static double? Percent(ulong part, Stats s)
    {
        var total = (double)s.BusyCycles + s.IdleCycles;
        return total == 0 ? null : 100.0 * part / total;
    }

    private static void Nullable(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v)
            w.WriteNumber(name, Math.Round(v, 2));
        else
            w.WriteNull(name);
    }

    /// <summary>Two decimals, or "n/a" when there is nothing to divide (no packet yet).</summary>
    private static string Number(double? value) => value is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
