using Butterfly.Domain.Validation;

namespace Butterfly.Domain.Tests.Validation;

public class IdentifierAndAddressTests
{
    [Theory]
    [InlineData("vm-1")]
    [InlineData("A_b.c-9")]
    [InlineData("...")]
    public void NicIdAcceptsSafeNames(string id) => Assert.True(Identifiers.NicId("id", id).IsValid);

    [Theory]
    [InlineData("", "id is empty")]
    [InlineData(".", "would name a directory")]
    [InlineData("..", "would name a directory")]
    [InlineData("a/b", "contains '/'")]
    [InlineData("a b", "contains ' '")]
    [InlineData("a\nb", "contains '\\u000a'")]
    [InlineData("é", "contains 'é'")]
    public void NicIdRejectsUnsafeNames(string id, string reason)
    {
        var result = Identifiers.NicId("id", id);
        Assert.False(result.IsValid);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void NicIdHasALengthLimit()
    {
        Assert.True(Identifiers.NicId("id", new string('a', 64)).IsValid);
        var tooLong = Identifiers.NicId("id", new string('a', 65));
        Assert.Contains("65 characters long: at most 64", tooLong.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void GroupIdRejectsEmptyControlAndLong()
    {
        Assert.True(Identifiers.GroupId("sg", "sg-1 with space").IsValid);
        Assert.Contains("is empty", Identifiers.GroupId("sg", "").Error, StringComparison.Ordinal);
        Assert.Contains("control character", Identifiers.GroupId("sg", "a\tb").Error, StringComparison.Ordinal);
        Assert.Contains("at most 255", Identifiers.GroupId("sg", new string('s', 256)).Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("52:54:00:00:D7:11", "52:54:00:00:d7:11")]
    [InlineData("02:00:00:00:00:01", "02:00:00:00:00:01")]
    public void MacIsNormalisedToLowerCase(string input, string expected) =>
        Assert.Equal(expected, MacText.NormaliseUnicast("mac", input).Value);

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("52:54:00:00:d7", "is not a MAC address")]
    [InlineData("52-54-00-00-d7-11", "is not a MAC address")]
    [InlineData("52:54:00:00:d7:1g", "is not a MAC address")]
    [InlineData("52:54:00:00:d7:111", "is not a MAC address")]
    [InlineData("ff:ff:ff:ff:ff:ff", "broadcast")]
    [InlineData("01:00:5e:00:00:01", "multicast")]
    [InlineData("33:33:00:00:00:01", "multicast")]
    [InlineData("00:00:00:00:00:00", "all zeros")]
    public void MacRejectsBadAndNonUnicast(string mac, string reason)
    {
        var result = MacText.NormaliseUnicast("mac", mac);
        Assert.False(result.IsValid);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
        Assert.StartsWith("mac", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void MacFormatOnlyAcceptsMulticast() =>
        Assert.Equal("ff:ff:ff:ff:ff:ff", MacText.NormaliseFormat("dmac", "FF:FF:FF:FF:FF:FF").Value);

    [Theory]
    [InlineData("10.0.0.1", "10.0.0.1")]
    [InlineData("255.255.255.255", "255.255.255.255")]
    [InlineData("2001:0db8::0001", "2001:db8::1")]
    [InlineData("2001:DB8:0:0:0:0:0:1", "2001:db8::1")]
    [InlineData("::", "::")]
    [InlineData("::ffff:10.0.0.1", "::ffff:10.0.0.1")]
    public void IpIsNormalised(string input, string expected) =>
        Assert.Equal(expected, IpText.Normalise("ip", input).Value);

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0")]
    [InlineData("10.1")]
    [InlineData("10.0.0.256")]
    [InlineData("10.0.0.01")]
    [InlineData("10.0.0.1 ")]
    [InlineData("10.0.0.-1")]
    [InlineData("0x0a.0.0.1")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]")]
    [InlineData("2001:db8::1/64")]
    [InlineData("2001:db8:::1")]
    [InlineData("hello")]
    public void IpRejectsWhatInetPtonRejects(string input)
    {
        var result = IpText.Normalise("ip[3]", input);
        Assert.False(result.IsValid);
        Assert.StartsWith("ip[3]", result.Error, StringComparison.Ordinal);
    }
}
