using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Infrastructure.Events.Postgres;
using Butterfly.Infrastructure.Events.Tests.Support;
using Npgsql;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>The destination strings the daemon accepts, and what they open.</summary>
public sealed class EventStoresTests
{
    private static NpgsqlConnectionStringBuilder Connection(EventStores.Destination destination) =>
        new(destination.ConnectionString);

    [Theory]
    [InlineData("file:/var/lib/butterfly/events", "/var/lib/butterfly/events")]
    [InlineData("file:///var/lib/butterfly", "/var/lib/butterfly")]
    [InlineData("file:relative/dir", "relative/dir")]
    [InlineData("  file:/x  ", "/x")]
    public void A_file_destination_names_a_directory(string text, string directory)
    {
        var destination = EventStores.Parse(text);
        Assert.Equal(directory, destination.Directory);
        Assert.Null(destination.ConnectionString);
    }

    [Fact]
    public void A_postgres_url_becomes_a_connection_string()
    {
        var destination = EventStores.Parse("postgres://bf:s%40cret@db.example:6543/config");
        var connection = Connection(destination);
        Assert.Null(destination.Directory);
        Assert.Equal(("db.example", 6543, "config", "bf", "s@cret"),
            (connection.Host, connection.Port, connection.Database, connection.Username, connection.Password));
        Assert.Equal("butterfly", destination.Schema);
    }

    [Fact]
    public void A_postgresql_url_may_omit_password_and_port_and_set_schema_and_npgsql_settings()
    {
        var destination = EventStores.Parse("postgresql://bf@[::1]/config?schema=switch_7&Timeout=5");
        var connection = Connection(destination);
        Assert.Equal(("::1", 5432, "config", "bf", (string?)null, 5),
            (connection.Host, connection.Port, connection.Database, connection.Username, connection.Password, connection.Timeout));
        Assert.Equal("switch_7", destination.Schema);
    }

    [Fact]
    public void An_npgsql_connection_string_is_taken_as_is_with_an_optional_schema()
    {
        var plain = EventStores.Parse("Host=127.0.0.1;Port=5433;Database=bf;Username=u;Password=p");
        Assert.Equal(("127.0.0.1", 5433, "bf", "butterfly"), (Connection(plain).Host, Connection(plain).Port, Connection(plain).Database, plain.Schema));
        var withSchema = EventStores.Parse("Host=localhost;Database=bf;Schema=other");
        Assert.Equal("other", withSchema.Schema);
        Assert.DoesNotContain("other", withSchema.ConnectionString, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("/var/lib/butterfly")]
    [InlineData("file:")]
    [InlineData("http://db/config")]
    [InlineData("postgres://db")]
    [InlineData("postgres://db/")]
    [InlineData("postgres://db/a/b")]
    [InlineData("postgres:///config")]
    [InlineData("postgres://u@db/config?NoSuchSetting=1")]
    [InlineData("postgres://u@db/config?schema=Bad-Name")]
    [InlineData("Database=bf")]
    [InlineData("Host=db;Bogus=1")]
    [InlineData("Host=db;Schema=x y")]
    public void Anything_else_is_refused_with_a_one_line_message(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => EventStores.Parse(text));
        Assert.StartsWith("invalid event store", error.Message, StringComparison.Ordinal);
        Assert.Contains("file:DIR", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Passwords_never_reach_the_error_message()
    {
        var fromUrl = Assert.Throws<ArgumentException>(() => EventStores.Parse("postgres://u:hunter2@db/config?Bogus=1"));
        Assert.DoesNotContain("hunter2", fromUrl.Message, StringComparison.Ordinal);
        var fromString = Assert.Throws<ArgumentException>(() => EventStores.Parse("Password=hunter2;Bogus=1;Host=x"));
        Assert.DoesNotContain("hunter2", fromString.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenAsync_opens_the_store_the_destination_names()
    {
        var logs = new LogCapture();
        using var directory = new TempDirectory();
        await using (var file = await EventStores.OpenAsync($"file:{directory.Path}", logs.Logger, CancellationToken.None))
        {
            Assert.IsType<FileEventStore>(file);
            Assert.Equal($"file:{directory.Path}", file.Description);
        }

        var schema = PostgresServer.UniqueSchema();
        try
        {
            var connection = await PostgresServer.ConnectionStringAsync();
            await using var postgres = await EventStores.OpenAsync($"{connection};Schema={schema}", logs.Logger, CancellationToken.None);
            Assert.IsType<MartenEventStore>(postgres);
            Assert.Contains($"schema {schema}", postgres.Description, StringComparison.Ordinal);
            Assert.DoesNotContain("Password", postgres.Description, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            await PostgresServer.DropSchemaAsync(schema);
        }
    }
}
