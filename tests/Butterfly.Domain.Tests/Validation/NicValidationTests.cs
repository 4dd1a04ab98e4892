using Butterfly.Domain.Nics;

namespace Butterfly.Domain.Tests.Validation;

public class NicValidationTests
{
    private static NicSpec Nic(string id = "vm1", string mac = "52:54:00:00:d7:11", uint vni = 42, string[]? ips = null, string[]? groups = null) =>
        new(id, mac, vni, ips ?? ["10.0.0.1"], groups ?? ["sg-1"]);

    [Fact]
    public void NormalisesMacIpsAndDeduplicatesInOrder()
    {
        var result = NicValidation.Normalise(Nic(
            mac: "52:54:00:AA:BB:CC",
            ips: ["2001:0db8::0001", "10.0.0.2", "2001:db8::1", "10.0.0.1", "10.0.0.2"],
            groups: ["sg-b", "sg-a", "sg-b"]));

        Assert.True(result.IsValid, result.Error);
        var nic = result.Value!;
        Assert.Equal("52:54:00:aa:bb:cc", nic.Mac);
        Assert.Equal(["2001:db8::1", "10.0.0.2", "10.0.0.1"], nic.Ips);
        Assert.Equal(["sg-b", "sg-a"], nic.SecurityGroups);
    }

    [Fact]
    public void EmptyOptionalTextsBecomeNull()
    {
        var nic = Nic() with { SniffTargetNicId = "", PacketTracePath = "", BenchType = "", BenchDestIp = "", BenchDestMac = "" };
        var result = NicValidation.Normalise(nic).Value!;
        Assert.Null(result.SniffTargetNicId);
        Assert.Null(result.PacketTracePath);
        Assert.Null(result.BenchType);
        Assert.Null(result.BenchDestIp);
        Assert.Null(result.BenchDestMac);
    }

    [Fact]
    public void BenchFieldsAreNormalised()
    {
        var nic = Nic() with { Type = NicType.Bench, BenchDestIp = "2001:0db8::2", BenchDestMac = "FF:FF:FF:FF:FF:FF" };
        var result = NicValidation.Normalise(nic).Value!;
        Assert.Equal("2001:db8::2", result.BenchDestIp);
        Assert.Equal("ff:ff:ff:ff:ff:ff", result.BenchDestMac);
    }

    [Fact]
    public void VniLimitIs24Bits()
    {
        Assert.True(NicValidation.Normalise(Nic(vni: 16_777_215)).IsValid);
        var error = NicValidation.Normalise(Nic(vni: 16_777_216)).Error;
        Assert.Equal("NIC 'vm1': vni 16777216 is too large: a VXLAN network identifier is below 2^24 (at most 16777215)", error);
    }

    [Theory]
    [InlineData("bad/id", "52:54:00:00:d7:11", "NIC id 'bad/id' contains '/'")]
    [InlineData("vm1", "01:00:5e:00:00:01", "NIC 'vm1': mac '01:00:5e:00:00:01' is a multicast address")]
    [InlineData("vm1", "nope", "NIC 'vm1': mac 'nope' is not a MAC address")]
    public void ErrorsNameTheNicTheFieldAndTheValue(string id, string mac, string expectedStart)
    {
        var error = NicValidation.Normalise(Nic(id: id, mac: mac)).Error;
        Assert.NotNull(error);
        Assert.StartsWith(expectedStart, error, StringComparison.Ordinal);
    }

    [Fact]
    public void BadIpNamesItsIndex()
    {
        var error = NicValidation.Normalise(Nic(ips: ["10.0.0.1", "10.0.0.300"])).Error;
        Assert.StartsWith("NIC 'vm1': ip[1] '10.0.0.300' is not a valid IP address", error, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyGroupIdIsRejectedByNicAdd()
    {
        var error = NicValidation.Normalise(Nic(groups: ["sg-1", ""])).Error;
        Assert.Equal("NIC 'vm1': security_group[1] is empty: a security group needs an id", error);
    }

    [Fact]
    public void BadOptionalFieldsAreRejected()
    {
        Assert.Contains("sniff_target_nic_id", NicValidation.Normalise(Nic() with { SniffTargetNicId = "../x" }).Error, StringComparison.Ordinal);
        Assert.Contains("dip 'x'", NicValidation.Normalise(Nic() with { BenchDestIp = "x" }).Error, StringComparison.Ordinal);
        Assert.Contains("dmac 'x'", NicValidation.Normalise(Nic() with { BenchDestMac = "x" }).Error, StringComparison.Ordinal);
        Assert.Contains("type 7 is unknown", NicValidation.Normalise(Nic() with { Type = (NicType)7 }).Error, StringComparison.Ordinal);
    }

    [Fact]
    public void UpdateListsSkipEmptyEntries()
    {
        Assert.Empty(NicValidation.NormaliseIps([""], skipEmpty: true).Value);
        Assert.Equal(["10.0.0.1"], NicValidation.NormaliseIps(["", "10.0.0.1", "10.0.0.1"], skipEmpty: true).Value.ToArray());
        Assert.Equal(["a"], NicValidation.NormaliseGroupIds(["", "a", "a"], skipEmpty: true).Value.ToArray());
        Assert.False(NicValidation.NormaliseIps([""], skipEmpty: false).IsValid);
    }
}
