using System.Globalization;
using System.Text;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;

namespace Butterfly.Cli.Rules;

/// <summary>
/// The id that <c>sg rule list</c> shows and <c>sg rule del SG ID</c> accepts: the libstdc++
/// string hash of the rule's C++ TextFormat rendering, as 16 lowercase hex digits.
/// </summary>
internal static class RuleId
{
    public static string Of(MessageV0.Types.Rule rule)
    {
        var text = TextFormatPrinter.Print(rule);
        var hash = LibstdcxxHash.StringHash(Encoding.UTF8.GetBytes(text));
        return hash.ToString("x16", CultureInfo.InvariantCulture);
    }
}
