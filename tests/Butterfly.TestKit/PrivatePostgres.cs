using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Butterfly.TestKit;

/// <summary>
/// A PostgreSQL 15 server of the test's own (initdb in a temporary directory, a free port on
/// 127.0.0.1, trust authentication), for tests that must restart the database: the shared
/// cluster of scripts/postgres.sh is used by other tests at the same time and is never
/// restarted. Dispose stops it (by its data directory) and deletes the directory.
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private const string Binaries = "/usr/lib/postgresql/15/bin";

    private readonly string _root;

    private PrivatePostgres(string root, int port)
    {
        _root = root;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(_root, "data");

    /// <summary>An Npgsql connection string for the database butterfly_test, owned by role butterfly.</summary>
    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Database=butterfly_test;Username=butterfly;Password=butterfly";

    public static async Task<PrivatePostgres> StartAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), "bfly-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var server = new PrivatePostgres(root, FreePort());
        try
        {
            await RunAsync("chown", "postgres", root);
            await RunAsPostgresAsync(Path.Combine(Binaries, "initdb"), "-D", server.DataDirectory, "-A", "trust", "-U", "postgres", "--no-sync");
            await server.PgCtlAsync("start");
            await server.PsqlAsync("create role butterfly login password 'butterfly'");
            await server.PsqlAsync("create database butterfly_test owner butterfly");
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server (fast: every connection is cut) and starts it again.</summary>
    public Task RestartAsync() => PgCtlAsync("restart");

    /// <summary>Runs one statement as the superuser.</summary>
    public Task<string> PsqlAsync(string sql) =>
        RunAsPostgresAsync(Path.Combine(Binaries, "psql"), "-h", _root, "-p", Port.ToString(CultureInfo.InvariantCulture),
            "-U", "postgres", "-d", sql.StartsWith("create ", StringComparison.Ordinal) ? "postgres" : "butterfly_test",
            "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql);

    private Task<string> PgCtlAsync(string verb) =>
        RunAsPostgresAsync(Path.Combine(Binaries, "pg_ctl"), "-D", DataDirectory, "-m", "fast", "-w", "-l", Path.Combine(_root, "log"),
            "-o", $"-p {Port} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off", verb);

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private static Task<string> RunAsPostgresAsync(string program, params string[] args) => RunAsync("runuser", ["-u", "postgres", "--", program, .. args]);

    private static async Task<string> RunAsync(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot run {program}");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {await errors}");
        }
        return await output;
    }

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try
            {
                await RunAsPostgresAsync(Path.Combine(Binaries, "pg_ctl"), "-D", DataDirectory, "-m", "immediate", "-w", "stop");
            }
            catch (InvalidOperationException)
            {
                // Already stopped.
            }
        }
        Directory.Delete(_root, recursive: true);
    }
}
