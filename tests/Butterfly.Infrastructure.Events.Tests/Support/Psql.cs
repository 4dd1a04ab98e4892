using System.Diagnostics;
using Npgsql;

namespace Butterfly.Infrastructure.Events.Tests.Support;

/// <summary>Runs a file of sql/ through the real psql client, as a DBA would, against the test database.</summary>
internal static class Psql
{
    /// <summary>
    /// Runs <paramref name="sqlFile"/> with the variables given, unaligned output with '|'
    /// between fields, UTC timestamps; returns stdout, throws with stderr on failure.
    /// </summary>
    public static async Task<string> RunFileAsync(string sqlFile, IReadOnlyDictionary<string, string> variables)
    {
        var target = new NpgsqlConnectionStringBuilder(await PostgresServer.ConnectionStringAsync());
        var arguments = new List<string> { "-X", "-q", "-A", "-F", "|", "-v", "ON_ERROR_STOP=1", "-f", sqlFile };
        foreach (var (name, value) in variables)
        {
            arguments.Add("-v");
            arguments.Add($"{name}={value}");
        }
        var info = new ProcessStartInfo("psql", arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["PGHOST"] = target.Host;
        info.Environment["PGPORT"] = target.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        info.Environment["PGDATABASE"] = target.Database;
        info.Environment["PGUSER"] = target.Username;
        info.Environment["PGPASSWORD"] = target.Password;
        info.Environment["PGTZ"] = "UTC";
        using var process = Process.Start(info) ?? throw new InvalidOperationException("cannot run psql");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"psql -f {sqlFile} failed ({process.ExitCode}): {await errors}");
        }
        return await output;
    }

    /// <summary>
    /// Splits psql output into sections that start with an "== title" line (from \echo), each
    /// holding its data rows as field arrays (the column-header line and "(n rows)" dropped).
    /// </summary>
    public static Dictionary<string, List<string[]>> Sections(string output)
    {
        var sections = new Dictionary<string, List<string[]>>();
        List<string[]>? current = null;
        var headerSeen = false;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("== ", StringComparison.Ordinal))
            {
                current = [];
                sections[line[3..]] = current;
                headerSeen = false;
            }
            else if (current is not null && !line.StartsWith('('))
            {
                if (headerSeen)
                {
                    current.Add(line.Split('|'));
                }
                headerSeen = true;
            }
        }
        return sections;
    }
}
