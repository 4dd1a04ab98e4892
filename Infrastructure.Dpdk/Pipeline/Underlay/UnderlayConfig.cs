namespace Butterfly.Infrastructure.Dpdk.Pipeline;

/// <summary>One VTEP address of this host: the address, its on-link prefix and an optional gateway.</summary>
internal readonly record struct VtepAddress(IpAddr Address, int PrefixLength, IpAddr Gateway)
{
    /// <summary>True when a gateway is set (it is unspecified otherwise).</summary>
    public bool HasGateway => !Gateway.IsUnspecified;
}

/// <summary>
/// This host's side of the underlay: its MAC, its VTEP address per family (at least one), the
/// TTL of outer headers and the underlay MTU. Immutable; built from the daemon's options on
/// the control side, read by the packet thread.
/// </summary>
internal sealed class UnderlayConfig
{
    public const byte DefaultTtl = 64;
    public const int DefaultMtu = 1500;

    private readonly VtepAddress _ipv4;
    private readonly VtepAddress _ipv6;

    /// <exception cref="ArgumentException">A field is invalid; the message names it and says why.</exception>
    public UnderlayConfig(MacAddress mac, VtepAddress? ipv4, VtepAddress? ipv6, int mtu = DefaultMtu, byte ttl = DefaultTtl)
    {
        if (mac.IsMulticast || mac.IsZero)
        {
            throw new ArgumentException($"underlay mac {mac} is not a unicast address", nameof(mac));
        }
        if (ipv4 is null && ipv6 is null)
        {
            throw new ArgumentException("the underlay needs an IPv4 or an IPv6 VTEP address");
        }
        Check(ipv4, v4: true, nameof(ipv4));
        Check(ipv6, v4: false, nameof(ipv6));
        if (mtu < 576 || mtu > 9216)
        {
            throw new ArgumentOutOfRangeException(nameof(mtu), mtu, "underlay mtu must be within 576..9216");
        }
        if (ttl == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "outer ttl must be at least 1");
        }
        Mac = mac;
        Ipv4 = ipv4;
        Ipv6 = ipv6;
        HasIpv4 = ipv4.HasValue;
        HasIpv6 = ipv6.HasValue;
        _ipv4 = ipv4.GetValueOrDefault();
        _ipv6 = ipv6.GetValueOrDefault();
        Mtu = mtu;
        Ttl = ttl;
    }

    public MacAddress Mac { get; }

    public VtepAddress? Ipv4 { get; }

    public VtepAddress? Ipv6 { get; }

    // The same addresses as plain fields: the per-packet checks read these, not the nullables.
    public bool HasIpv4 { get; }

    public bool HasIpv6 { get; }

    public IpAddr Ipv4Address => _ipv4.Address;

    public IpAddr Ipv6Address => _ipv6.Address;

    public int Mtu { get; }

    public byte Ttl { get; }

    /// <summary>Our VTEP address of <paramref name="destination"/>'s family, if we have one.</summary>
    public bool TrySourceFor(IpAddr destination, out VtepAddress source)
    {
        if (destination.IsV4)
        {
            source = _ipv4;
            return HasIpv4;
        }
        source = _ipv6;
        return HasIpv6;
    }

    /// <summary>
    /// The address whose MAC an outer frame to <paramref name="destination"/> is sent to: the
    /// destination itself when on-link (or multicast, or no gateway is set), otherwise the gateway.
    /// </summary>
    public static IpAddr NextHop(in VtepAddress source, IpAddr destination) =>
        destination.IsMulticast || !source.HasGateway || destination.SharesPrefix(source.Address, source.PrefixLength)
            ? destination
            : source.Gateway;

    private static void Check(VtepAddress? vtep, bool v4, string field)
    {
        if (vtep is not { } a)
        {
            return;
        }
        var family = v4 ? "IPv4" : "IPv6";
        if (a.Address.IsV4 != v4 || a.Address.IsUnspecified || a.Address.IsMulticast)
        {
            throw new ArgumentException($"{field} {a.Address} is not a unicast {family} address", field);
        }
        if (a.PrefixLength < 1 || a.PrefixLength > (v4 ? 32 : 128))
        {
            throw new ArgumentException($"{field} prefix length {a.PrefixLength} is out of range for {family}", field);
        }
        if (a.HasGateway && (a.Gateway.IsV4 != v4 || a.Gateway.IsMulticast || !a.Gateway.SharesPrefix(a.Address, a.PrefixLength)))
        {
            throw new ArgumentException($"{field} gateway {a.Gateway} is not an on-link {family} unicast address of {a.Address}/{a.PrefixLength}", field);
        }
    }
}
