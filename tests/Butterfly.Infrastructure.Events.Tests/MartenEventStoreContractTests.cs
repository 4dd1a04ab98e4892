using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.Postgres;
using Butterfly.Infrastructure.Events.Tests.Support;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>The <see cref="IEventStore"/> contract on PostgreSQL, in a schema of its own per test, dropped after.</summary>
public sealed class MartenEventStoreContractTests : EventStoreContract
{
    private readonly string _schema = PostgresServer.UniqueSchema();

    protected override async Task<IEventStore> OpenAsync() =>
        await MartenEventStore.OpenAsync(await PostgresServer.ConnectionStringAsync(), Logs.Logger,
            new MartenEventStoreOptions { Schema = _schema, Time = Clock });

    protected override Task DeleteStorageAsync() => PostgresServer.DropSchemaAsync(_schema);

    protected override long GroupsCommitted(IEventStore store) => ((MartenEventStore)store).GroupsCommitted;
}
