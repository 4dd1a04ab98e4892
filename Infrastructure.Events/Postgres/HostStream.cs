using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Serilog;

namespace Butterfly.Infrastructure.Events.Postgres;

/// <summary>
/// A host's stream in a PostgreSQL store that a fleet shares: many hosts' daemons point at one
/// database (one schema), each writes the stream of its host id, and <c>butterfly_hosts</c> says
/// which stream is whose.
/// <list type="bullet">
/// <item>A host's stream is <c>configuration/&lt;host id&gt;</c>.</item>
/// <item><b>Compatibility.</b> A database written before host ids holds one stream,
/// <c>configuration</c>, which no host has claimed. The first daemon to open it that can take the
/// old single-writer lock (so no earlier butterflyd is writing it) adopts it: it becomes that host's
/// stream, unchanged, and that daemon keeps holding the old lock too, so an earlier butterflyd can
/// never write it again. A daemon that cannot take the old lock (an earlier butterflyd runs on it)
/// gets a stream of its own.</item>
/// <item><b>One writer per host id</b>: the daemon holds <see cref="LockKey"/>'s advisory lock
/// while it runs; a second daemon of the same host id is refused, other hosts are not.</item>
/// </list>
/// </summary>
internal sealed record HostStream(string Schema, string HostId, string StreamId)
{
    /// <summary>The one stream of a database written before host ids.</summary>
    public const string LegacyStreamId = "configuration";

    /// <summary>First key of the old single-writer lock, (class, hashtext(schema)) (ASCII "BFLY").</summary>
    public const int LegacyLockClass = 0x42464C59;

    public bool IsLegacy => StreamId == LegacyStreamId;

    public static string StreamOf(string hostId) => LegacyStreamId + "/" + hostId;

    /// <summary>
    /// The advisory lock of a host id in a schema: the first 8 bytes of md5(schema/host) as a signed
    /// big-endian 64-bit number, the same as PostgreSQL's
    /// <c>('x' || substr(md5('&lt;schema&gt;/&lt;host&gt;'), 1, 16))::bit(64)::bigint</c> (sql/README.md).
    /// </summary>
    public static long LockKey(string schema, string hostId) =>
        BinaryPrimitives.ReadInt64BigEndian(MD5.HashData(Encoding.UTF8.GetBytes(schema + "/" + hostId)).AsSpan(0, 8));

    /// <summary>Creates <c>butterfly_hosts</c> if missing (under the schema's set-up lock).</summary>
    public static async Task CreateTableAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"create table if not exists {schema}.butterfly_hosts (host_id varchar primary key, stream_id varchar not null unique, " +
            "claimed timestamptz not null default now())", connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes the host id's lock on <paramref name="connection"/>; false when another session holds it.</summary>
    public static async Task<bool> TryLockHostAsync(NpgsqlConnection connection, string schema, string hostId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_try_advisory_lock(@key)", connection);
        command.Parameters.AddWithValue("key", LockKey(schema, hostId));
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>Takes the old single-writer lock of the schema (held by every butterflyd before host ids).</summary>
    public static async Task<bool> TryLockLegacyAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_try_advisory_lock(@class, hashtext(@schema))", connection);
        command.Parameters.AddWithValue("class", LegacyLockClass);
        command.Parameters.AddWithValue("schema", schema);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <summary>
    /// The stream of <paramref name="hostId"/>, claimed if it has none yet (adopting an unclaimed
    /// stream written before host ids when no earlier butterflyd writes it). Runs on the writer's
    /// connection, which holds the host id's lock; takes the old lock there too when the stream is
    /// the old one. Throws <see cref="InvalidOperationException"/> when the host's stream is the old
    /// one and an earlier butterflyd is writing it.
    /// </summary>
    public static async Task<HostStream> ClaimAsync(NpgsqlConnection connection, string schema, string hostId, string description,
        ILogger log, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (await StreamOfAsync(connection, schema, hostId, cancellationToken).ConfigureAwait(false) is { } claimed)
            {
                var stream = new HostStream(schema, hostId, claimed);
                if (stream.IsLegacy && !await TryLockLegacyAsync(connection, schema, cancellationToken).ConfigureAwait(false))
                {
                    throw new InvalidOperationException($"event store {description}: host {hostId}'s stream '{LegacyStreamId}' is in use by another " +
                        "process (its single-writer lock is held: a butterflyd of an earlier version?): two daemons cannot share one event log");
                }
                return stream;
            }
            if (attempt > 0)
            {
                throw new InvalidOperationException($"event store {description}: host {hostId} could not claim a stream");
            }
            var adopted = await TryAdoptLegacyAsync(connection, schema, hostId, cancellationToken).ConfigureAwait(false);
            if (adopted)
            {
                log.Warning("Event store {Description}: host {HostId} adopted the stream '{Stream}' written before host ids (a single-host database); " +
                    "other hosts sharing this database get streams of their own", description, hostId, LegacyStreamId);
                continue;
            }
            await using var insert = new NpgsqlCommand(
                $"insert into {schema}.butterfly_hosts (host_id, stream_id) values (@host, @stream) on conflict do nothing", connection);
            insert.Parameters.AddWithValue("host", hostId);
            insert.Parameters.AddWithValue("stream", StreamOf(hostId));
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The stream <c>butterfly_hosts</c> gives the host, or null.</summary>
    public static async Task<string?> StreamOfAsync(NpgsqlConnection connection, string schema, string hostId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"select stream_id from {schema}.butterfly_hosts where host_id = @host", connection);
        command.Parameters.AddWithValue("host", hostId);
        return (string?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The stream of another host, read on any connection of the data source, or null when the host has none.</summary>
    public static async Task<string?> StreamOfAsync(NpgsqlDataSource dataSource, string schema, string hostId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await StreamOfAsync(connection, schema, hostId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Claims the unclaimed old stream for the host when it exists and no earlier butterflyd writes it.</summary>
    private static async Task<bool> TryAdoptLegacyAsync(NpgsqlConnection connection, string schema, string hostId, CancellationToken cancellationToken)
    {
        await using (var unclaimed = new NpgsqlCommand(
            $"select exists (select 1 from {schema}.mt_streams where id = @stream) " +
            $"and not exists (select 1 from {schema}.butterfly_hosts where stream_id = @stream)", connection))
        {
            unclaimed.Parameters.AddWithValue("stream", LegacyStreamId);
            if (!(bool)(await unclaimed.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!)
            {
                return false;
            }
        }
        if (!await TryLockLegacyAsync(connection, schema, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        await using var insert = new NpgsqlCommand(
            $"insert into {schema}.butterfly_hosts (host_id, stream_id) values (@host, @stream) on conflict do nothing", connection);
        insert.Parameters.AddWithValue("host", hostId);
        insert.Parameters.AddWithValue("stream", LegacyStreamId);
        if (await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
        {
            return true;
        }
        await using var unlock = new NpgsqlCommand("select pg_advisory_unlock(@class, hashtext(@schema))", connection);
        unlock.Parameters.AddWithValue("class", LegacyLockClass);
        unlock.Parameters.AddWithValue("schema", schema);
        await unlock.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return false;
    }
}
