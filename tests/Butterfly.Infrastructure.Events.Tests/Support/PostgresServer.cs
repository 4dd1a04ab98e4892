using System.Diagnostics;
using Npgsql;

namespace Butterfly.Infrastructure.Events.Tests.Support;

/// <summary>
/// The PostgreSQL the Marten tests run against: $BUTTERFLY_TEST_PG when set (scripts/test.sh
/// sets it from scripts/postgres.sh url), otherwise the local cluster that
/// scripts/postgres.sh starts. The tests never stop the cluster: other test assemblies (the
/// end-to-end tests) may be using it at the same time. Whoever ran the script stops it:
/// scripts/test.sh does, a developer runs `scripts/postgres.sh stop`.
/// </summary>
internal static class PostgresServer
{
    private static readonly Lazy<Task<string>> Resolved = new(ResolveAsync);

    public static Task<string> ConnectionStringAsync() => Resolved.Value;

    /// <summary>A schema name no other test uses.</summary>
    public static string UniqueSchema() => "bft_" + Guid.NewGuid().ToString("N");

    public static async Task DropSchemaAsync(string schema)
    {
        await using var dataSource = NpgsqlDataSource.Create(await ConnectionStringAsync());
        await using var command = dataSource.CreateCommand($"drop schema if exists {schema} cascade");
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string> ResolveAsync()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("BUTTERFLY_TEST_PG");
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            return fromEnvironment;
        }
        var script = Path.Combine(RepositoryRoot.Path, "scripts", "postgres.sh");
        await RunAsync(script, "start");
        return (await RunAsync(script, "url")).Trim();
    }

    private static async Task<string> RunAsync(string script, string verb)
    {
        var info = new ProcessStartInfo("bash", [script, verb])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot run {script}");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{script} {verb} failed ({process.ExitCode}): {await errors}");
        }
        return await output;
    }
}
