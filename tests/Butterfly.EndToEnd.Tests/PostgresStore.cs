using System.Diagnostics;
using Npgsql;

namespace Butterfly.EndToEnd.Tests;

/// <summary>
/// The real PostgreSQL server of the test harness: BUTTERFLY_TEST_PG when set (scripts/test.sh
/// sets it), otherwise scripts/postgres.sh starts Debian's PostgreSQL. Each daemon gets a
/// schema of its own, dropped when the tests are done.
/// </summary>
public sealed class PostgresStore : IDisposable
{
    private readonly List<string> _schemas = [];
    private readonly Lazy<string> _connectionString = new(Locate);

    /// <summary>A fresh event-store destination (an Npgsql connection string with its own schema).</summary>
    public string NewDestination()
    {
        var schema = "bfe2e_" + Guid.NewGuid().ToString("N")[..12];
        lock (_schemas)
        {
            _schemas.Add(schema);
        }

        return $"{_connectionString.Value};Schema={schema}";
    }

    public void Dispose()
    {
        if (!_connectionString.IsValueCreated || _schemas.Count == 0)
        {
            return;
        }

        using var connection = new NpgsqlConnection(_connectionString.Value);
        connection.Open();
        foreach (var schema in _schemas)
        {
            using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE", connection);
            drop.ExecuteNonQuery();
        }
    }

    private static string Locate()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BUTTERFLY_TEST_PG");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment;
        }

        var script = Path.Combine(TestKit.RepoPaths.RepoRoot, "scripts", "postgres.sh");
        Run(script, "start");
        return Run(script, "url").Trim();
    }

    private static string Run(string script, string verb)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(verb);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 ? output : throw new InvalidOperationException($"{script} {verb} failed: {error}");
    }
}

/// <summary>
/// End-to-end tests run one after another: each starts real daemons and DPDK processes, and
/// the machine has two cores.
/// </summary>
[CollectionDefinition(Name)]
public sealed class EndToEndCollection : ICollectionFixture<PostgresStore>
{
    public const string Name = "end-to-end";
}
