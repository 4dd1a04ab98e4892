extern alias cli;

using System.Runtime.CompilerServices;
using System.Text;
using Butterfly.Api.Zmq.Server;
using Butterfly.Application;
using Butterfly.Application.Configuration;
using Butterfly.Application.Ports;
using Butterfly.Infrastructure.Events.FileLog;
using Butterfly.Wire;
using Mediator;
using Microsoft.Extensions.DependencyInjection;

namespace Butterfly.Fuzz;

/// <summary>
/// The fuzz targets: each takes arbitrary bytes and must return without throwing (every input
/// is an expected outcome of these readers: a reply, a refusal, an error value). Whatever
/// escapes is a crash AFL keeps.
/// </summary>
internal static class Targets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["api"] = Api,
        ["envelope"] = Envelope,
        ["textformat"] = TextFormat,
        ["logrecord"] = LogRecord,
        ["packet"] = PacketTarget.Run,
    };

    private static readonly byte[] Key = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];

    private static readonly Lazy<(MessageDispatcher Dispatcher, ConfigurationStore Store)> Application = new(Build);

    /// <summary>The API decoder, then every message through the dispatcher and the real application, then a commit.</summary>
    private static void Api(byte[] input)
    {
        var opened = new RequestEnvelope(null).Open(input);
        var (dispatcher, store) = Application.Value;
        foreach (var item in opened.Items)
        {
            if (item.Message0 is { } v0)
            {
                _ = MessageDispatcher.KindOf(opened.Items);
                var result = dispatcher.DispatchAsync(v0, new RequestOrigin("fuzz", null), 1, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                _ = result.Reply.CalculateSize();
            }
        }
        _ = store.CommitAsync(CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>The legacy encrypted envelope: opening arbitrary payloads with a key, and the whole request path with that key.</summary>
    private static void Envelope(byte[] input)
    {
        _ = LegacyEnvelope.TryOpen(input, Key, out _);
        var opened = new RequestEnvelope(Key).Open(input);
        if (opened.Reply is null)
        {
            _ = new RequestEnvelope(Key).Encode(new Messages { Messages_ = { opened.Items } }, opened.Encrypted);
        }
    }

    /// <summary>The CLI's protobuf text format parser (butterfly request FILE), then the printer on what it parsed.</summary>
    private static void TextFormat(byte[] input)
    {
        var result = cli::Butterfly.Cli.TextFormat.TextFormatParser.Parse<cli::Butterfly.Wire.Messages>(Encoding.UTF8.GetString(input));
        if (result.Message is { } message)
        {
            _ = cli::Butterfly.Cli.TextFormat.TextFormatPrinter.Print(message);
        }
    }

    /// <summary>The event log's record reader (format 2 header and payload, format 1 payload).</summary>
    private static void LogRecord(byte[] input)
    {
        if (LogFormat.TryReadHeader(input, out var header) is null)
        {
            var payload = input.AsSpan(LogFormat.RecordHeaderSize, Math.Min(header.PayloadLength, input.Length - LogFormat.RecordHeaderSize));
            if (header.Kind.HoldsEvents() && LogFormat.CheckPayload(header, payload, new ushort[header.Count]) is null)
            {
                _ = LogFormat.DecodeEvents(header, payload);
            }
        }
        // The payload reader without the checksum in front of it.
        if (input.Length >= LogFormat.RecordHeaderSize)
        {
            var fake = new RecordHeader(input[0] % 2 == 0 ? RecordKind.Events : RecordKind.AuditedEvents, 1, Math.Max(1, input[0] / 2 % 8), input.Length - LogFormat.RecordHeaderSize, 0,
                Crc32C.Compute(input.AsSpan(LogFormat.RecordHeaderSize)));
            var payload = input.AsSpan(LogFormat.RecordHeaderSize);
            if (LogFormat.CheckPayload(fake, payload, new ushort[fake.Count]) is null)
            {
                _ = LogFormat.DecodeEvents(fake, payload);
            }
        }
        _ = LegacyLogFormat.TryDecode(input, 1, out _);
    }

    private static (MessageDispatcher, ConfigurationStore) Build()
    {
        var provider = new ServiceCollection()
            .AddButterflyApplication()
            .AddSingleton<IEventStore>(new MemoryEventStore())
            .AddSingleton<IDataPath>(new NullDataPath())
            .AddSingleton<IHostControl>(new NullHost())
            .AddSingleton(TimeProvider.System)
            .BuildServiceProvider();
        var store = provider.GetRequiredService<ConfigurationStore>();
        store.LoadAsync(CancellationToken.None).GetAwaiter().GetResult();
        return (new MessageDispatcher(provider.GetRequiredService<IMediator>(), provider.GetRequiredService<IDataPath>(), false, Serilog.Core.Logger.None), store);
    }

    private sealed class NullHost : IHostControl
    {
        public DateTimeOffset StartedAt { get; } = DateTimeOffset.UnixEpoch;

        public void RequestShutdown()
        {
        }

        public bool TrySetLogLevel(string level) => level is "none" or "error" or "warning" or "info" or "debug";
    }

    private sealed class NullDataPath : IDataPath
    {
        public string? Validate(DataPathNic nic) => nic.Id.Length > 15 ? "too long" : null;

        public string PathOf(DataPathNic nic) => nic.SocketPath ?? "/tmp/" + nic.Id;

        public string NewSocketPath(string nicId) => "/tmp/qemu-vhost-" + nicId;

        public int NicCapacity(Butterfly.Domain.Nics.NicType type) => 511;

        public IReadOnlyDictionary<string, string> Reconcile(DesiredDataPath desired) => new Dictionary<string, string>();

        public byte[]? ExportSessions(string nicId) => null;

        public string? ImportSessions(string nicId, byte[] document) => document.Length > 0 ? null : "empty";

        public NicCounters? CountersOf(string nicId) => null;

        public string GraphDot() => "digraph {}";

        public PacketThreadStats ThreadStats(bool clear) => new(0, -1, 0, 0, 0, 0, 0, 0, 1, []);
    }

    /// <summary>Enough of an event store for the handlers; it forgets all but the last thousand events.</summary>
    private sealed class MemoryEventStore : IEventStore
    {
        private readonly List<StoredEvent> _events = [];
        private long _last;

        public string Description => "memory:fuzz";

        public Task<IReadOnlyList<StoredEvent>> AppendAsync(IReadOnlyList<NewEvent> batch, CancellationToken cancellationToken = default)
        {
            var stored = batch.Select(e => new StoredEvent(++_last, DateTimeOffset.UnixEpoch, e.Type, e.AggregateKind, e.AggregateId, e.DataJson, e.Origin, e.MessageId) { Audit = e.Audit }).ToList();
            _events.AddRange(stored);
            if (_events.Count > 1000)
            {
                _events.RemoveRange(0, _events.Count - 1000);
            }
            return Task.FromResult<IReadOnlyList<StoredEvent>>(stored);
        }

        public async IAsyncEnumerable<StoredEvent> ReadAsync(long afterSequence, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.CompletedTask;
            foreach (var e in _events.Where(e => e.Sequence > afterSequence).ToList())
            {
                yield return e;
            }
        }

        public Task<IReadOnlyList<StoredEvent>> QueryAsync(EventFilter filter, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<StoredEvent>>([.. _events.Where(e => e.Sequence > filter.AfterSequence).Take(Math.Max(0, filter.Limit))]);

        public Task<long> LastSequenceAsync(CancellationToken cancellationToken = default) => Task.FromResult(_last);

        public Task<long> SequenceAtAsync(DateTimeOffset time, CancellationToken cancellationToken = default) => Task.FromResult(_last);

        public Task SaveSnapshotAsync(StoredSnapshot snapshot, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task<StoredSnapshot?> LoadSnapshotAsync(long atOrBeforeSequence = long.MaxValue, CancellationToken cancellationToken = default) =>
            Task.FromResult<StoredSnapshot?>(null);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
