using System.Diagnostics;
using System.Globalization;
using Butterfly.TestKit;
using Npgsql;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.EndToEnd.Tests.Fleet;

/// <summary>
/// A fleet in one PostgreSQL database (issue 11, item 7): two hosts' daemons (--host-id hv-a,
/// hv-b) share one schema, each writing its own log; a second daemon of a host id already running
/// is refused; sql/fleet.sql, run by psql, says which host had a NIC at a time and lists every
/// rule change of the fleet; the CLI's events / state show the local host unless --host names
/// another.
/// </summary>
[Collection(EndToEndCollection.Name)]
public sealed class FleetTests(PostgresStore postgres)
{
    private static string NewId(string prefix) => prefix + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 4));

    private static Task<DaemonProcess> StartHostAsync(string destination, string hostId, bool waitUntilReady = true) =>
        DaemonProcess.StartAsync(new DaemonStartOptions
        {
            EventStore = destination,
            ExtraArgs = ["--host-id", hostId],
            WaitUntilReady = waitUntilReady,
        });

    [Fact]
    public async Task Two_hosts_share_one_database_and_the_fleet_queries_answer_across_them()
    {
        var destination = postgres.NewDestination();
        var nic = NewId("fl");
        var sgA = NewId("sa");
        var sgB = NewId("sb");
        await using var a = await StartHostAsync(destination, "hv-a");
        await using var b = await StartHostAsync(destination, "hv-b");
        using var apiA = a.CreateClient();
        using var apiB = b.CreateClient();

        // hv-a has the NIC first; then it moves to hv-b (a migration). Both change rules.
        apiA.CallOk(Requests.NicAdd(nic));
        var whileOnA = DateTimeOffset.UtcNow;
        apiA.CallOk(Requests.SgAdd(sgA));
        apiA.CallOk(Requests.SgRuleAdd(sgA, Requests.Rule(V0.Rule.Types.Direction.Inbound, 6, "10.0.0.0/8", 22, 22)));
        apiB.CallOk(Requests.SgAdd(sgB));
        apiB.CallOk(Requests.SgRuleAdd(sgB, Requests.Rule(V0.Rule.Types.Direction.Outbound, 17, "192.0.2.0/24", 53, 53)));
        apiA.CallOk(Requests.NicDel(nic));
        apiB.CallOk(Requests.NicAdd(nic));
        var whileOnB = DateTimeOffset.UtcNow;

        // Each daemon serves its own host: its log, its configuration.
        Assert.Equal([nic], apiB.CallOk(Requests.NicList()).NicList);
        Assert.Empty(apiA.CallOk(Requests.NicList()).NicList);
        Assert.Equal([sgA], apiA.CallOk(Requests.SgList()).SgList);

        var hosts = await PsqlAsync(destination, "fleet.sql", ("nic_id", nic), ("at", Timestamp(whileOnA)));
        Assert.Equal(["hv-a", "hv-b"], Section(hosts, "Hosts").Select(r => r[0]));
        var hadAtFirst = Section(hosts, $"Which host had NIC '{nic}'");
        Assert.Equal(["hv-a|NicAdded|nic_add"], hadAtFirst.Select(r => $"{r[0]}|{r[3]}|{r[4]}"));

        var later = await PsqlAsync(destination, "fleet.sql", ("nic_id", nic), ("at", Timestamp(whileOnB)));
        Assert.Equal(["hv-b|NicAdded|nic_add"], Section(later, $"Which host had NIC '{nic}'").Select(r => $"{r[0]}|{r[3]}|{r[4]}"));

        // Every rule change of the fleet in the last hour, in time order, with the host, the group, who and why.
        var rules = Section(later, "Rule changes in the fleet since");
        Assert.Equal(
            [$"hv-a|SecurityGroupDefined|{sgA}|sg_add", $"hv-a|RuleAdded|{sgA}|sg_rule_add", $"hv-b|SecurityGroupDefined|{sgB}|sg_add", $"hv-b|RuleAdded|{sgB}|sg_rule_add"],
            rules.Select(r => $"{r[1]}|{r[3]}|{r[4]}|{r[6]}"));
        Assert.All(rules.Where(r => r[3] == "RuleAdded"), r => Assert.Equal("127.0.0.1", r[8]));

        // The CLI shows the local host's log and configuration unless --host names another.
        var cliA = new CliRunner(a.Endpoint);
        var eventsA = await OkAsync(cliA, "events");
        Assert.Contains(sgA, eventsA, StringComparison.Ordinal);
        Assert.DoesNotContain(sgB, eventsA, StringComparison.Ordinal);
        Assert.Contains("cause=sg_rule_add address=127.0.0.1", eventsA, StringComparison.Ordinal);
        var eventsOfB = await OkAsync(cliA, "events", "--host", "hv-b");
        Assert.Contains(sgB, eventsOfB, StringComparison.Ordinal);
        Assert.DoesNotContain(sgA, eventsOfB, StringComparison.Ordinal);

        var stateA = await OkAsync(cliA, "state", "--at", "now");
        Assert.Contains("# state of host hv-a", stateA, StringComparison.Ordinal);
        Assert.Contains(sgA, stateA, StringComparison.Ordinal);
        Assert.DoesNotContain(nic, stateA, StringComparison.Ordinal);
        var stateOfB = await OkAsync(cliA, "state", "--at", "now", "--host", "hv-b");
        Assert.Contains("# state of host hv-b", stateOfB, StringComparison.Ordinal);
        Assert.Contains(nic, stateOfB, StringComparison.Ordinal);
        Assert.DoesNotContain(sgA, stateOfB, StringComparison.Ordinal);

        var unknown = await cliA.RunAsync("events", "--host", "hv-none");
        Assert.NotEqual(0, unknown.ExitCode);

        // A restart finds each host's own log again.
        await b.RestartAsync();
        using var apiB2 = b.CreateClient();
        Assert.Equal([nic], apiB2.CallOk(Requests.NicList()).NicList);
        Assert.Equal([sgB], apiB2.CallOk(Requests.SgList()).SgList);
    }

    [Fact]
    public async Task A_second_daemon_of_a_host_id_already_running_is_refused_and_the_first_keeps_serving()
    {
        var destination = postgres.NewDestination();
        await using var first = await StartHostAsync(destination, "hv-same");
        using var api = first.CreateClient();
        var sg = NewId("sm");
        api.CallOk(Requests.SgAdd(sg));

        await using var second = await StartHostAsync(destination, "hv-same", waitUntilReady: false);
        Assert.NotEqual(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("two daemons of one host id cannot share one event log", second.StandardError, StringComparison.Ordinal);

        // Another host id on the same database is let in.
        await using var other = await StartHostAsync(destination, "hv-other");
        Assert.Empty(other.CreateClient().CallOk(Requests.SgList()).SgList);

        Assert.Equal([sg], api.CallOk(Requests.SgList()).SgList);
        api.CallOk(Requests.SgDel(sg));
    }

    /// <summary>The rows of the one section whose title starts with <paramref name="title"/>.</summary>
    private static List<string[]> Section(Dictionary<string, List<string[]>> sections, string title)
    {
        var key = Assert.Single(sections.Keys, k => k.StartsWith(title, StringComparison.Ordinal));
        return sections[key];
    }

    private static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00";

    private static async Task<string> OkAsync(CliRunner cli, params string[] args)
    {
        var result = await cli.RunAsync(args);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.StandardOutput;
    }

    /// <summary>
    /// Runs sql/FILE with psql as an operator would (-v schema=… and the variables given);
    /// returns its sections ("== title" lines) with their rows split on '|'.
    /// </summary>
    private static async Task<Dictionary<string, List<string[]>>> PsqlAsync(string destination, string file, params (string Name, string Value)[] variables)
    {
        var at = destination.LastIndexOf(";Schema=", StringComparison.Ordinal);
        var schema = destination[(at + ";Schema=".Length)..];
        var target = new NpgsqlConnectionStringBuilder(destination[..at]);
        var info = new ProcessStartInfo("psql")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in (string[])["-X", "-q", "-t", "-A", "-F", "|", "-v", "ON_ERROR_STOP=1", "-v", $"schema={schema}"])
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in variables)
        {
            info.ArgumentList.Add("-v");
            info.ArgumentList.Add($"{name}={value}");
        }

        info.ArgumentList.Add("-f");
        info.ArgumentList.Add(Path.Combine(RepoPaths.RepoRoot, "sql", file));
        info.Environment["PGHOST"] = target.Host;
        info.Environment["PGPORT"] = target.Port.ToString(CultureInfo.InvariantCulture);
        info.Environment["PGDATABASE"] = target.Database;
        info.Environment["PGUSER"] = target.Username;
        info.Environment["PGPASSWORD"] = target.Password;
        info.Environment["PGTZ"] = "UTC";
        using var psql = Process.Start(info)!;
        var stdout = psql.StandardOutput.ReadToEndAsync();
        var stderr = psql.StandardError.ReadToEndAsync();
        await psql.WaitForExitAsync();
        Assert.True(psql.ExitCode == 0, $"psql -f sql/{file} failed: {await stderr}");

        var sections = new Dictionary<string, List<string[]>>(StringComparer.Ordinal);
        List<string[]>? current = null;
        foreach (var line in (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("== ", StringComparison.Ordinal))
            {
                current = [];
                sections[line[3..]] = current;
            }
            else
            {
                current?.Add(line.Split('|'));
            }
        }

        return sections;
    }
}
