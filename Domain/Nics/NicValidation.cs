using System.Collections.Immutable;
using Butterfly.Domain.Validation;

namespace Butterfly.Domain.Nics;

/// <summary>
/// Validates and normalises what nic_add and nic_update carry. Field names in errors are the
/// wire names (docs/protocol.md, MessageV0.Nic) so a person can find them in their request.
/// </summary>
public static class NicValidation
{
    /// <summary>VNIs are 24-bit in the VXLAN header.</summary>
    public const uint MaxVni = (1u << 24) - 1;

    /// <summary>
    /// Where a NIC's packet trace goes when no packet_trace_path was given, as nic_details
    /// shows it (the original daemon's default). The default itself is stored as "not set"
    /// (null), so a dump replayed records the same events as the original requests.
    /// </summary>
    public static string DefaultPacketTracePath(string nicId) => $"/tmp/butterfly-{nicId}.pcap";

    /// <summary>packet_trace_path as stored: null for "" and for the NIC's default path.</summary>
    public static string? StoredPacketTracePath(string nicId, string? path) =>
        string.IsNullOrEmpty(path) || path == DefaultPacketTracePath(nicId) ? null : path;

    /// <summary>Where the NIC's frames are captured when packet_trace is on: its path, or the default.</summary>
    public static string EffectivePacketTracePath(NicSpec nic) => nic.PacketTracePath ?? DefaultPacketTracePath(nic.Id);

    /// <summary>
    /// packet_trace_path as given on the wire, checked and as stored. It must be absolute: the
    /// daemon writes the file, and a relative path would name a file under the daemon's working
    /// directory (/ under systemd), not the client's, and another one after a restart from elsewhere.
    /// </summary>
    public static Validated<string?> PacketTracePath(string nicId, string? path)
    {
        if (!string.IsNullOrEmpty(path) && !Path.IsPathFullyQualified(path))
            return Validated.Fail<string?>($"NIC '{nicId}': packet_trace_path '{path}' is not an absolute path: the daemon writes the capture, " +
                "from its own working directory; give the whole path (e.g. /var/tmp/" + Path.GetFileName(path) + ")");
        return Validated.Ok(StoredPacketTracePath(nicId, path));
    }

    /// <summary>Returns the spec normalised: MAC lower case, IPs canonical, lists deduplicated in order.</summary>
    public static Validated<NicSpec> Normalise(NicSpec nic)
    {
        var id = Identifiers.NicId("NIC id", nic.Id);
        if (!id.IsValid)
            return Validated.Fail<NicSpec>(id.Error!);
        var prefix = $"NIC '{nic.Id}': ";

        var mac = MacText.NormaliseUnicast("mac", nic.Mac);
        if (!mac.IsValid)
            return Validated.Fail<NicSpec>(prefix + mac.Error);
        if (nic.Vni > MaxVni)
            return Validated.Fail<NicSpec>($"{prefix}vni {nic.Vni} is too large: a VXLAN network identifier is below 2^24 (at most {MaxVni})");
        if (!Enum.IsDefined(nic.Type))
            return Validated.Fail<NicSpec>($"{prefix}type {(int)nic.Type} is unknown: expected VHOST_USER_SERVER (0), TAP (1) or BENCH (2)");

        var ips = NormaliseIps(nic.Ips ?? [], skipEmpty: false);
        if (!ips.IsValid)
            return Validated.Fail<NicSpec>(prefix + ips.Error);
        var groups = NormaliseGroupIds(nic.SecurityGroups ?? [], skipEmpty: false);
        if (!groups.IsValid)
            return Validated.Fail<NicSpec>(prefix + groups.Error);

        // Optional texts: "" on the wire means "not set", as the original daemon treated it.
        var sniff = NullIfEmpty(nic.SniffTargetNicId);
        if (sniff is not null)
        {
            var target = Identifiers.NicId("sniff_target_nic_id", sniff);
            if (!target.IsValid)
                return Validated.Fail<NicSpec>(prefix + target.Error);
        }

        var tracePath = PacketTracePath(nic.Id, nic.PacketTracePath);
        if (!tracePath.IsValid)
            return Validated.Fail<NicSpec>(tracePath.Error!);

        var dip = NullIfEmpty(nic.BenchDestIp);
        if (dip is not null)
        {
            var parsed = IpText.Normalise("dip", dip);
            if (!parsed.IsValid)
                return Validated.Fail<NicSpec>(prefix + parsed.Error);
            dip = parsed.Value;
        }

        var dmac = NullIfEmpty(nic.BenchDestMac);
        if (dmac is not null)
        {
            var parsed = MacText.NormaliseFormat("dmac", dmac);
            if (!parsed.IsValid)
                return Validated.Fail<NicSpec>(prefix + parsed.Error);
            dmac = parsed.Value;
        }

        return Validated.Ok(nic with
        {
            Mac = mac.Value!,
            Ips = ips.Value!,
            SecurityGroups = groups.Value!,
            SniffTargetNicId = sniff,
            PacketTracePath = tracePath.Value,
            BenchType = NullIfEmpty(nic.BenchType),
            BenchDestIp = dip,
            BenchDestMac = dmac,
        });
    }

    /// <summary>
    /// Validates an IP list: each entry normalised, duplicates dropped keeping the first.
    /// With <paramref name="skipEmpty"/> (nic_update), "" entries are ignored, which is how a
    /// list holding a single "" clears the NIC's IPs.
    /// </summary>
    public static Validated<ImmutableArray<string>> NormaliseIps(IEnumerable<string> ips, bool skipEmpty)
    {
        var result = ImmutableArray.CreateBuilder<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var ip in ips)
        {
            if (!(skipEmpty && string.IsNullOrEmpty(ip)))
            {
                var normalised = IpText.Normalise($"ip[{index}]", ip);
                if (!normalised.IsValid)
                    return Validated.Fail<ImmutableArray<string>>(normalised.Error!);
                if (seen.Add(normalised.Value!))
                    result.Add(normalised.Value!);
            }

            index++;
        }

        return Validated.Ok(result.ToImmutable());
    }

    /// <summary>Validates security group ids, dropping duplicates (and "" with <paramref name="skipEmpty"/>).</summary>
    public static Validated<ImmutableArray<string>> NormaliseGroupIds(IEnumerable<string> groups, bool skipEmpty)
    {
        var result = ImmutableArray.CreateBuilder<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var index = 0;
        foreach (var group in groups)
        {
            if (!(skipEmpty && string.IsNullOrEmpty(group)))
            {
                var id = Identifiers.GroupId($"security_group[{index}]", group);
                if (!id.IsValid)
                    return Validated.Fail<ImmutableArray<string>>(id.Error!);
                if (seen.Add(group))
                    result.Add(group);
            }

            index++;
        }

        return Validated.Ok(result.ToImmutable());
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
