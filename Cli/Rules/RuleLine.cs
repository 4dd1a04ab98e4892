using System.Globalization;
using Butterfly.Wire;

namespace Butterfly.Cli.Rules;

/// <summary>
/// One line of <c>sg rule list</c>, in the original client's layout:
/// <c>&lt;id&gt; | direction: INBOUND - IP protocol: 6 - port start: 22 - port end: 22 - cidr: 0.0.0.0/0 - members of sg: Ø</c>
/// ("Ø" marks an unset field). A rule with an ICMP type (protocol revision 9) gets
/// <c> - icmp type: 8 - icmp code: Ø</c> appended; other rules print exactly as before.
/// </summary>
internal static class RuleLine
{
    private const string Unset = "Ø";

    private static readonly Google.Protobuf.Reflection.FieldDescriptor DirectionField =
        MessageV0.Types.Rule.Descriptor.FindFieldByNumber(MessageV0.Types.Rule.DirectionFieldNumber);

    public static string Format(MessageV0.Types.Rule rule)
    {
        // The C++ client printed the enum value's name, empty for an unknown number.
        var direction = DirectionField.EnumType.FindValueByNumber((int)rule.Direction)?.Name ?? "";
        var cidr = rule.Cidr is { } c
            ? $"{c.Address}/{c.MaskSize.ToString(CultureInfo.InvariantCulture)}"
            : Unset;
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{RuleId.Of(rule)} | direction: {direction} - IP protocol: {rule.Protocol} - " +
            $"port start: {(rule.HasPortStart ? rule.PortStart.ToString(CultureInfo.InvariantCulture) : Unset)} - " +
            $"port end: {(rule.HasPortEnd ? rule.PortEnd.ToString(CultureInfo.InvariantCulture) : Unset)} - " +
            $"cidr: {cidr} - members of sg: {(rule.HasSecurityGroup ? rule.SecurityGroup : Unset)}");
        if (!rule.HasIcmpType && !rule.HasIcmpCode)
            return line;
        return line + string.Create(CultureInfo.InvariantCulture,
            $" - icmp type: {(rule.HasIcmpType ? rule.IcmpType.ToString(CultureInfo.InvariantCulture) : Unset)}" +
            $" - icmp code: {(rule.HasIcmpCode ? rule.IcmpCode.ToString(CultureInfo.InvariantCulture) : Unset)}");
    }
}
