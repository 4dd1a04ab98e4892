using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.EndToEnd.Tests;

/// <summary>The daemon's whole configuration as its API reports it, in a comparable form.</summary>
internal static class ConfigurationProbe
{
    /// <summary>nic_details("") and sg_details("") rendered as text; equal text = equal configuration.</summary>
    public static string Read(ApiClient client)
    {
        var nics = client.CallOk(Requests.NicDetails()).NicDetails;
        var groups = client.CallOk(Requests.SgDetails()).SgDetails;
        return string.Join('\n', nics.Select(n => n.ToString())) + "\n--\n" + string.Join('\n', groups.Select(g => g.ToString()));
    }

    public static IReadOnlyList<string> NicIds(ApiClient client) => [.. client.CallOk(Requests.NicList()).NicList];

    /// <summary>A NIC request with a MAC derived from its number, so many NICs stay distinct.</summary>
    public static MessageV0.Types.Request NumberedNic(int n, MessageV0.Types.Nic.Types.Type type = MessageV0.Types.Nic.Types.Type.VhostUserServer)
    {
        var mac = $"52:54:00:{(n >> 16) & 0xff:x2}:{(n >> 8) & 0xff:x2}:{n & 0xff:x2}";
        var nic = Requests.Nic($"nic{n}", mac, (uint)(100 + (n % 7)), [$"10.1.{(n >> 8) & 0xff}.{n & 0xff}"], ["sg-a"]);
        nic.Type = type;
        return Requests.NicAdd(nic);
    }
}
