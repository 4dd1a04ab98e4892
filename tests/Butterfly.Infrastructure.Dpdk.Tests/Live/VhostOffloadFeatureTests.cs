namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

/// <summary>
/// The virtio offload features a vhost-user socket offers (native/vhost.c): checksum offload
/// always, TCP segmentation offload unless --no-offload, UDP fragmentation offload never (the
/// forwarder finishes checksums and cuts TCP super-frames in software, not UDP ones).
/// </summary>
[Collection(DataPathCollection.Name)]
public sealed class VhostOffloadFeatureTests(DataPathFixture fixture)
{
    private const int Csum = 0, GuestCsum = 1, Gso = 6, HostTso4 = 11, HostTso6 = 12, HostEcn = 13, HostUfo = 14;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Checksum_offload_is_offered_tso_unless_no_offload_and_ufo_never(bool offerTso)
    {
        var path = Path.Combine(fixture.SocketDir, offerTso ? "vh-ol-tso" : "vh-ol-notso");
        var slot = VhostPorts.Create(path, offerTso);
        Assert.True(slot >= 0, VhostPorts.CreateError(path, slot, 0, 0));
        try
        {
            var offered = VhostPorts.State(slot)!.Value.Offered;
            Assert.True(Has(offered, Csum), "VIRTIO_NET_F_CSUM");
            Assert.True(Has(offered, GuestCsum), "VIRTIO_NET_F_GUEST_CSUM");
            Assert.False(Has(offered, HostUfo), "VIRTIO_NET_F_HOST_UFO");
            // VIRTIO_NET_F_GSO alone makes a Linux guest turn TSO on, so it goes with HOST_TSO4/6.
            foreach (var bit in new[] { Gso, HostTso4, HostTso6, HostEcn })
            {
                Assert.True(Has(offered, bit) == offerTso, $"feature bit {bit}: offered {offered:x}");
            }
        }
        finally
        {
            Assert.Null(VhostPorts.Destroy(slot, path));
        }
    }

    private static bool Has(ulong features, int bit) => (features & (1UL << bit)) != 0;
}
