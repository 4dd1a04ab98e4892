using System.Diagnostics;
using System.Globalization;
using Butterfly.TestKit;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Bench.Api;

/// <summary>
/// The time a security-group change takes to be applied, measured at the API: a reply comes
/// only once the change is durable, compiled and published to the packet thread, so the round
/// trip bounds "applied". Against a daemon given by its endpoint (the vhost-user loop's, with
/// traffic flowing: bench/vhost-loop/ct_change.sh) or one started for the run.
/// </summary>
internal static class FirewallChanges
{
    /// <summary>Adds then deletes one rule <paramref name="changes"/> times; prints p50 / p99 / max of each round trip.</summary>
    public static void RuleChanges(ApiClient client, int changes, string group)
    {
        var samples = new List<double>(changes);
        for (var i = 0; i < changes; i++)
        {
            var rule = Requests.Rule(V0.Rule.Types.Direction.Inbound, 6, "192.0.2.0/24", (uint)(20000 + i), (uint)(20000 + i));
            samples.Add(Time(() => client.CallOk(Requests.SgRuleAdd(group, rule))));
            samples.Add(Time(() => client.CallOk(Requests.SgRuleDel(group, rule))));
        }
        samples.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"one rule added or deleted ({samples.Count} changes): p50 {samples[samples.Count / 2]:F2} ms, p99 {samples[(int)(samples.Count * 0.99)]:F2} ms, max {samples[^1]:F2} ms"));
    }

    /// <summary>One sg_add of 10 000 rules, then one of a group of 100 000 members they reference; prints each time to the reply.</summary>
    public static void BigLoad(ApiClient client, string group)
    {
        var members = Enumerable.Range(0, 100_000).Select(i => $"172.{16 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}");
        var rules = Enumerable.Range(0, 10_000).Select(n => n % 100 == 99
            ? Requests.RuleFromGroup(V0.Rule.Types.Direction.Inbound, 6, group + "-members", 5432, 5432)
            : Requests.Rule(V0.Rule.Types.Direction.Inbound, 6, $"10.{(n >> 8) & 255}.{n & 255}.0/24", (uint)(n % 60000), (uint)(n % 60000)));
        var membersMs = Time(() => client.CallOk(Requests.SgAdd(group + "-members", members)));
        var rulesMs = Time(() => client.CallOk(Requests.SgAdd(group, rules: rules)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sg_add of 100 000 members: {membersMs:F0} ms; sg_add of 10 000 rules referencing them: {rulesMs:F0} ms"));
    }

    private static double Time(Action action)
    {
        var start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
