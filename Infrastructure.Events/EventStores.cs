using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Infrastructure.Events.Postgres;
using Npgsql;
using Serilog;

namespace Butterfly.Infrastructure.Events;

/// <summary>Opens the event store a destination string names (the daemon's --event-store value).</summary>
public static class EventStores
{
    /// <summary>What <see cref="OpenAsync"/> accepts, for error messages and --help.</summary>
    public const string Usage =
        "file:DIR | postgres://user[:password]@host[:port]/database[?schema=NAME] | " +
        "an Npgsql connection string (Host=...;Database=...[;Schema=NAME])";

    /// <summary>
    /// Opens the store named by <paramref name="destination"/>:
    /// <c>file:DIR</c> (the embedded file log in DIR, created if missing);
    /// <c>postgres://user[:password]@host[:port]/database</c> or <c>postgresql://…</c>
    /// (optionally <c>?schema=NAME</c>, other query keys are Npgsql settings);
    /// or an Npgsql connection string such as <c>Host=…;Database=…</c> (optionally <c>Schema=NAME</c>).
    /// The PostgreSQL schema defaults to "butterfly".
    /// </summary>
    /// <exception cref="ArgumentException">The destination is none of these.</exception>
    public static Task<IEventStore> OpenAsync(string destination, ILogger log, CancellationToken ct) =>
        OpenAsync(destination, log, TimeSpan.FromSeconds(5), ct);

    /// <inheritdoc cref="OpenAsync(string, ILogger, CancellationToken)"/>
    /// <param name="writeTimeout">How long a PostgreSQL append may take, settling an unanswered COMMIT included.</param>
    public static Task<IEventStore> OpenAsync(string destination, ILogger log, TimeSpan writeTimeout, CancellationToken ct) =>
        OpenAsync(destination, log, writeTimeout, System.Net.Dns.GetHostName(), ct);

    /// <inheritdoc cref="OpenAsync(string, ILogger, TimeSpan, CancellationToken)"/>
    /// <param name="hostId">This host's id: the stream it writes in a PostgreSQL store the fleet shares (<see cref="IsValidHostId"/>).</param>
    public static async Task<IEventStore> OpenAsync(string destination, ILogger log, TimeSpan writeTimeout, string hostId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(log);
        var target = Parse(destination);
        if (target.Directory is not null)
        {
            var file = await FileEventStore.OpenAsync(target.Directory, log, ct).ConfigureAwait(false);
            file.HostId = hostId;
            return file;
        }
        return await MartenEventStore.OpenAsync(target.ConnectionString!, log,
            new MartenEventStoreOptions { Schema = target.Schema, WriteTimeout = writeTimeout, HostId = hostId }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// butterflyd --repair-log: shows (and with <paramref name="apply"/> carries out) the repair of
    /// the file log <paramref name="destination"/> names (<see cref="LogRepair"/>). Returns the exit code.
    /// </summary>
    /// <exception cref="NotSupportedException">The destination is a PostgreSQL store.</exception>
    public static int RepairLog(string destination, bool apply, TextWriter output)
    {
        var target = Parse(destination);
        if (target.Directory is null)
        {
            throw new NotSupportedException("the repair command works on file: event logs; a PostgreSQL store is repaired with " +
                "the database's own tools (see sql/README.md: a stream shorter than its snapshots)");
        }
        return LogRepair.Run(target.Directory, apply, output, Serilog.Core.Logger.None);
    }

    /// <summary>
    /// A host id names a host's stream in a store the fleet shares: 1 to 63 ASCII letters,
    /// digits, '.', '-' and '_', starting with a letter or digit (what host names are made of).
    /// </summary>
    public static bool IsValidHostId(string? hostId) =>
        hostId is { Length: > 0 and <= 63 } && char.IsAsciiLetterOrDigit(hostId[0])
        && hostId.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_');

    /// <summary>A parsed destination: either a directory or a connection string plus schema.</summary>
    internal sealed record Destination(string? Directory, string? ConnectionString, string Schema);

    internal static Destination Parse(string? destination)
    {
        var text = destination?.Trim() ?? "";
        if (text.Length == 0)
        {
            throw Invalid(destination, "it is empty");
        }
        if (text.StartsWith("file:", StringComparison.Ordinal))
        {
            var directory = text["file:".Length..];
            // Also accept the URI form file:///var/lib/butterfly.
            if (directory.StartsWith("//", StringComparison.Ordinal))
            {
                directory = directory[2..];
            }
            if (directory.Length == 0)
            {
                throw Invalid(destination, "file: needs a directory, e.g. file:/var/lib/butterfly/events");
            }
            return new Destination(directory, null, "");
        }
        if (text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            return ParseUrl(text);
        }
        if (text.Contains('=', StringComparison.Ordinal))
        {
            return ParseConnectionString(text);
        }
        throw Invalid(destination, "unknown form");
    }

    private static Destination ParseUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            throw Invalid(text, "not a valid postgres:// URL");
        }
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal))
        {
            throw Invalid(text, "the URL must name one database: postgres://user@host/database");
        }
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host.Trim('[', ']'),
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Database = database,
        };
        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }
        var schema = "butterfly";
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (key.Equals("schema", StringComparison.OrdinalIgnoreCase))
            {
                schema = value;
                continue;
            }
            try
            {
                builder[key] = value;
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException)
            {
                throw Invalid(text, $"unknown or invalid setting '{key}'");
            }
        }
        return Postgres(text, builder, schema);
    }

    private static Destination ParseConnectionString(string text)
    {
        NpgsqlConnectionStringBuilder builder;
        var schema = "butterfly";
        try
        {
            // "Schema" is ours, not Npgsql's: take it out before Npgsql sees the string.
            var general = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = text };
            foreach (var key in general.Keys.Cast<string>().ToList())
            {
                if (key.Equals("schema", StringComparison.OrdinalIgnoreCase))
                {
                    schema = Convert.ToString(general[key], System.Globalization.CultureInfo.InvariantCulture) ?? "";
                    general.Remove(key);
                }
            }
            builder = new NpgsqlConnectionStringBuilder(general.ConnectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException)
        {
            throw Invalid(text, $"not a valid Npgsql connection string ({ex.Message})");
        }
        if (string.IsNullOrEmpty(builder.Host))
        {
            throw Invalid(text, "the connection string has no Host");
        }
        return Postgres(text, builder, schema);
    }

    private static Destination Postgres(string text, NpgsqlConnectionStringBuilder builder, string schema)
    {
        if (!MartenEventStore.IsValidSchemaName(schema))
        {
            throw Invalid(text, $"invalid schema name '{schema}' (lower-case letters, digits and '_', at most 63)");
        }
        return new Destination(null, builder.ConnectionString, schema);
    }

    private static ArgumentException Invalid(string? destination, string why) =>
        new($"invalid event store '{Redact(destination)}': {why}; expected {Usage}");

    /// <summary>Keeps passwords out of error messages (which end up in logs).</summary>
    public static string Redact(string? destination)
    {
        if (destination is null)
        {
            return "";
        }
        var redacted = System.Text.RegularExpressions.Regex.Replace(destination, @"(?i)(password|pwd)\s*=\s*[^;]*", "$1=***");
        return System.Text.RegularExpressions.Regex.Replace(redacted, @"(?i)^(postgres(?:ql)?://[^:/@]*):[^@]*@", "$1:***@");
    }
}
