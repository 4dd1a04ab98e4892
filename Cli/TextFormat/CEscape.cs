using System.Text;

namespace Butterfly.Cli.TextFormat;

/// <summary>
/// C-style escaping of string and bytes values exactly as protobuf C++'s <c>CEscape</c>
/// does it (the escaping used by <c>TextFormat::Print</c>): \n \r \t \" \' \\ get a
/// backslash, every other byte outside printable ASCII becomes a 3-digit octal escape.
/// Strings are escaped byte by byte on their UTF-8 form, so "é" becomes \303\251, which is
/// what the rule ids of the original client were computed over.
/// </summary>
internal static class CEscape
{
    public static void Append(StringBuilder sb, ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            switch (b)
            {
                case (byte)'\n': sb.Append("\\n"); break;
                case (byte)'\r': sb.Append("\\r"); break;
                case (byte)'\t': sb.Append("\\t"); break;
                case (byte)'"': sb.Append("\\\""); break;
                case (byte)'\'': sb.Append("\\'"); break;
                case (byte)'\\': sb.Append("\\\\"); break;
                default:
                    if (b < 0x20 || b >= 0x7f)
                    {
                        sb.Append('\\')
                          .Append((char)('0' + ((b >> 6) & 7)))
                          .Append((char)('0' + ((b >> 3) & 7)))
                          .Append((char)('0' + (b & 7)));
                    }
                    else
                    {
                        sb.Append((char)b);
                    }
                    break;
            }
        }
    }

    public static void Append(StringBuilder sb, string value) => Append(sb, Encoding.UTF8.GetBytes(value));

    public static string Escape(string value)
    {
        var sb = new StringBuilder(value.Length + 8);
        Append(sb, value);
        return sb.ToString();
    }
}
