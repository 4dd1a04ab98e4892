using Butterfly.Application.Commands;
using Butterfly.Application.Ports;
using Mediator;

namespace Butterfly.Application.Host;

/// <summary>packet_thread_stats: the data path's packet-thread counters, optionally starting a new measurement.</summary>
public sealed class GetPacketThreadStatsHandler(IDataPath dataPath) : IQueryHandler<GetPacketThreadStats, Outcome<PacketThreadStats>>
{
    public ValueTask<Outcome<PacketThreadStats>> Handle(GetPacketThreadStats query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return new(Outcome<PacketThreadStats>.Success(dataPath.ThreadStats(query.Clear)));
    }
}
