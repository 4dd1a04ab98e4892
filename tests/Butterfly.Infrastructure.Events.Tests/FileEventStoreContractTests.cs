using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Infrastructure.Events.Tests.Support;

namespace Butterfly.Infrastructure.Events.Tests;

/// <summary>The <see cref="IEventStore"/> contract on the file log, in a fresh directory per test.</summary>
public sealed class FileEventStoreContractTests : EventStoreContract
{
    private readonly TempDirectory _directory = new();

    protected override async Task<IEventStore> OpenAsync() =>
        await FileEventStore.OpenAsync(_directory.Path, Logs.Logger, new FileEventStoreOptions { Time = Clock });

    protected override Task DeleteStorageAsync()
    {
        _directory.Dispose();
        return Task.CompletedTask;
    }

    protected override long GroupsCommitted(IEventStore store) => ((FileEventStore)store).GroupsCommitted;
}
