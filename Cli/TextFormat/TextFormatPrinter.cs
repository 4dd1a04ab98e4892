using System.Collections;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Butterfly.Cli.TextFormat;

/// <summary>
/// Prints a message in protobuf text format, byte for byte as C++
/// <c>TextFormat::PrintToString</c> (protobuf 3.x, default printer) does: fields in field
/// number order, one per line, nested messages as <c>name {</c> … <c>}</c> indented by two
/// spaces, repeated fields one line per element, enums by value name, strings and bytes
/// escaped with <see cref="CEscape"/>, unknown fields last by number.
/// The original client hashed this rendering to make rule ids, so it must not drift.
/// </summary>
internal static class TextFormatPrinter
{
    private const int UnknownFieldRecursionBudget = 10;

    public static string Print(IMessage message)
    {
        var sb = new StringBuilder();
        PrintMessage(sb, message, 0);
        return sb.ToString();
    }

    private static void PrintMessage(StringBuilder sb, IMessage message, int indent)
    {
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            var value = field.Accessor.GetValue(message);
            if (field.IsMap)
            {
                foreach (DictionaryEntry entry in SortedEntries((IDictionary)value))
                    PrintMapEntry(sb, field, entry, indent);
            }
            else if (field.IsRepeated)
            {
                foreach (var item in (IList)value)
                    PrintField(sb, field, item, indent);
            }
            else if (IsPresent(field, message, value))
            {
                PrintField(sb, field, value, indent);
            }
        }
        PrintUnknown(sb, UnknownFields.Of(message), indent, UnknownFieldRecursionBudget);
    }

    private static bool IsPresent(FieldDescriptor field, IMessage message, object? value)
    {
        if (field.HasPresence)
            return field.Accessor.HasValue(message);
        // proto3 fields without presence are printed when they differ from their default.
        return value switch
        {
            null => false,
            string s => s.Length != 0,
            ByteString b => !b.IsEmpty,
            bool b => b,
            IMessage => true,
            Enum e => Convert.ToInt64(e, CultureInfo.InvariantCulture) != 0,
            IConvertible c => c.ToDouble(CultureInfo.InvariantCulture) != 0,
            _ => true,
        };
    }

    private static void PrintField(StringBuilder sb, FieldDescriptor field, object value, int indent)
    {
        Indent(sb, indent);
        sb.Append(FieldName(field));
        if (field.FieldType is FieldType.Message or FieldType.Group)
        {
            sb.Append(" {\n");
            PrintMessage(sb, (IMessage)value, indent + 1);
            Indent(sb, indent);
            sb.Append("}\n");
            return;
        }
        sb.Append(": ");
        AppendScalar(sb, field, value);
        sb.Append('\n');
    }

    private static void PrintMapEntry(StringBuilder sb, FieldDescriptor field, DictionaryEntry entry, int indent)
    {
        var entryType = field.MessageType;
        Indent(sb, indent);
        sb.Append(field.Name).Append(" {\n");
        foreach (var (sub, v) in new[] { (entryType.FindFieldByNumber(1), entry.Key), (entryType.FindFieldByNumber(2), entry.Value) })
        {
            if (v is not null)
                PrintField(sb, sub, v, indent + 1);
        }
        Indent(sb, indent);
        sb.Append("}\n");
    }

    private static IEnumerable<DictionaryEntry> SortedEntries(IDictionary map)
    {
        var entries = new List<DictionaryEntry>();
        foreach (DictionaryEntry e in map)
            entries.Add(e);
        return entries.OrderBy(e => e.Key is string s ? s : Convert.ToString(e.Key, CultureInfo.InvariantCulture), StringComparer.Ordinal);
    }

    private static string FieldName(FieldDescriptor field) =>
        field.FieldType == FieldType.Group ? field.MessageType.Name : field.Name;

    /// <summary>Appends one scalar value as C++ prints it (shared with the rule id code).</summary>
    internal static void AppendScalar(StringBuilder sb, FieldDescriptor field, object value)
    {
        switch (field.FieldType)
        {
            case FieldType.String:
                sb.Append('"');
                CEscape.Append(sb, (string)value);
                sb.Append('"');
                break;
            case FieldType.Bytes:
                sb.Append('"');
                CEscape.Append(sb, ((ByteString)value).Span);
                sb.Append('"');
                break;
            case FieldType.Bool:
                sb.Append((bool)value ? "true" : "false");
                break;
            case FieldType.Enum:
                var number = Convert.ToInt32(value, CultureInfo.InvariantCulture);
                var name = field.EnumType.FindValueByNumber(number)?.Name;
                sb.Append(name ?? number.ToString(CultureInfo.InvariantCulture));
                break;
            case FieldType.Double:
                sb.Append(FormatFloating((double)value));
                break;
            case FieldType.Float:
                sb.Append(FormatFloating((float)value));
                break;
            default:
                sb.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }

    // Our schema has no floating-point fields; this follows C++ for the usual values
    // (inf, -inf, nan, shortest round-trip digits) without claiming byte identity.
    private static string FormatFloating(double d)
    {
        if (double.IsPositiveInfinity(d))
            return "inf";
        if (double.IsNegativeInfinity(d))
            return "-inf";
        if (double.IsNaN(d))
            return "nan";
        return d.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
    }

    private static void PrintUnknown(StringBuilder sb, IReadOnlyList<UnknownField> fields, int indent, int budget)
    {
        foreach (var f in fields)
        {
            Indent(sb, indent);
            sb.Append(f.Number.ToString(CultureInfo.InvariantCulture));
            switch (f.Type)
            {
                case WireType.Varint:
                    sb.Append(": ").Append(f.Value.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    break;
                case WireType.Fixed32:
                    sb.Append(": 0x").Append(f.Value.ToString("x8", CultureInfo.InvariantCulture)).Append('\n');
                    break;
                case WireType.Fixed64:
                    sb.Append(": 0x").Append(f.Value.ToString("x16", CultureInfo.InvariantCulture)).Append('\n');
                    break;
                case WireType.LengthDelimited:
                    var embedded = new List<UnknownField>();
                    if (f.Data!.Length > 0 && budget > 0 && UnknownFields.TryRead(f.Data, embedded))
                    {
                        sb.Append(" {\n");
                        PrintUnknown(sb, embedded, indent + 1, budget - 1);
                        Indent(sb, indent);
                        sb.Append("}\n");
                    }
                    else
                    {
                        sb.Append(": \"");
                        CEscape.Append(sb, f.Data);
                        sb.Append("\"\n");
                    }
                    break;
                case WireType.StartGroup:
                    sb.Append(" {\n");
                    PrintUnknown(sb, f.Group!, indent + 1, budget - 1);
                    Indent(sb, indent);
                    sb.Append("}\n");
                    break;
            }
        }
    }

    private static void Indent(StringBuilder sb, int level) => sb.Append(' ', level * 2);
}
