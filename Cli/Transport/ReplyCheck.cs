using System.Globalization;
using System.Text;
using Butterfly.Wire;

namespace Butterfly.Cli.Transport;

/// <summary>
/// Decides whether a reply reports success, and words the failure like the original
/// client's CheckRequestResult: "error in response: CODE" for an envelope error,
/// "error in response" then "description: …" for a failed status. Unlike the original,
/// every reply message is checked, not only the first, and a short reply is an error.
/// </summary>
internal static class ReplyCheck
{
    /// <summary>The text to print on stderr for the first failure, or null when all is well.</summary>
    public static string? FirstFailure(Messages reply, int expectedCount)
    {
        if (reply.Messages_.Count == 0)
            return "error: no message detected in response\n";
        foreach (var message in reply.Messages_)
        {
            if (message.Error is { } error)
            {
                var code = error.HasCode ? CodeName(error.Code) : "no error code";
                return $"error in response: {code}\n";
            }
            if (message.Message0 is not { } m0)
                return "error: no MessageV0 in response\n";
            if (m0.Response is not { } response)
                return "error: no response in MessageV0\n";
            if (response.Status is null || !response.Status.Status_)
                return "error in response" + Details(response.Status?.Error) + "\n";
        }
        if (reply.Messages_.Count < expectedCount)
            return string.Create(CultureInfo.InvariantCulture, $"error: {expectedCount} replies expected, {reply.Messages_.Count} received\n");
        return null;
    }

    // The original printed the first field the daemon filled in, on its own line.
    private static string Details(MessageV0.Types.Error? e)
    {
        if (e is null)
            return "";
        var sb = new StringBuilder("\n");
        if (e.HasDescription)
            sb.Append("description: ").Append(e.Description);
        else if (e.HasErrNo)
            sb.Append("errno: ").Append(e.ErrNo.ToString(CultureInfo.InvariantCulture));
        else if (e.HasFile)
            sb.Append("file: ").Append(e.File);
        else if (e.HasLine)
            sb.Append("line: ").Append(e.Line.ToString(CultureInfo.InvariantCulture));
        else if (e.HasCursPos)
            sb.Append("curs_pos: ").Append(e.CursPos.ToString(CultureInfo.InvariantCulture));
        else if (e.HasFunction)
            sb.Append("function: ").Append(e.Function);
        else
            return " no details provided";
        return sb.ToString();
    }

    private static string CodeName(Error.Types.Code code) =>
        Error.Descriptor.FindFieldByNumber(Error.CodeFieldNumber).EnumType.FindValueByNumber((int)code)?.Name
            ?? ((int)code).ToString(CultureInfo.InvariantCulture);
}
