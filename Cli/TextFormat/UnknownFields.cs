using System.Buffers.Binary;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Butterfly.Cli.TextFormat;

/// <summary>Protobuf wire types (the low 3 bits of a tag).</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>One field that the schema does not know, as it sits on the wire.</summary>
internal sealed record UnknownField(int Number, WireType Type, ulong Value, byte[]? Data, IReadOnlyList<UnknownField>? Group);

/// <summary>
/// Recovers the fields of a message that its descriptor does not know (for example
/// fields a newer daemon sends) so that the text printer can show them the way protobuf
/// C++ does. Google.Protobuf for C# keeps such fields but does not expose them, so they are
/// read back from the message's own serialization: known fields are skipped, the rest are
/// returned in wire order.
/// </summary>
internal static class UnknownFields
{
    public static IReadOnlyList<UnknownField> Of(IMessage message)
    {
        var bytes = message.ToByteArray();
        if (bytes.Length == 0)
            return [];
        var all = new List<UnknownField>();
        if (!TryRead(bytes, all))
            return [];
        var descriptor = message.Descriptor;
        return all.Where(f => !IsKnown(descriptor, f)).ToList();
    }

    /// <summary>
    /// Parses <paramref name="data"/> as a sequence of wire fields; fails unless every byte
    /// is consumed by well-formed fields, like C++ <c>UnknownFieldSet::ParseFromString</c>.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> data, List<UnknownField> fields)
    {
        var pos = 0;
        return ReadFields(data, ref pos, fields, endGroupNumber: 0, depth: 0) && pos == data.Length;
    }

    private static bool IsKnown(MessageDescriptor descriptor, UnknownField field)
    {
        var known = descriptor.FindFieldByNumber(field.Number);
        if (known is null)
            return false;
        var expected = ExpectedWireType(known.FieldType);
        // A repeated scalar may also arrive packed (length-delimited).
        return field.Type == expected || (known.IsRepeated && field.Type == WireType.LengthDelimited);
    }

    private static WireType ExpectedWireType(FieldType type) => type switch
    {
        FieldType.Double or FieldType.Fixed64 or FieldType.SFixed64 => WireType.Fixed64,
        FieldType.Float or FieldType.Fixed32 or FieldType.SFixed32 => WireType.Fixed32,
        FieldType.String or FieldType.Bytes or FieldType.Message => WireType.LengthDelimited,
        FieldType.Group => WireType.StartGroup,
        _ => WireType.Varint,
    };

    private static bool ReadFields(ReadOnlySpan<byte> data, ref int pos, List<UnknownField> fields, int endGroupNumber, int depth)
    {
        if (depth > 100)
            return false;
        while (pos < data.Length)
        {
            if (!TryReadVarint(data, ref pos, out var tag) || tag > uint.MaxValue)
                return false;
            var number = (int)(tag >> 3);
            var type = (WireType)(tag & 7);
            if (number == 0)
                return false;
            switch (type)
            {
                case WireType.Varint:
                    if (!TryReadVarint(data, ref pos, out var v))
                        return false;
                    fields.Add(new UnknownField(number, type, v, null, null));
                    break;
                case WireType.Fixed64:
                    if (data.Length - pos < 8)
                        return false;
                    fields.Add(new UnknownField(number, type, BinaryPrimitives.ReadUInt64LittleEndian(data[pos..]), null, null));
                    pos += 8;
                    break;
                case WireType.Fixed32:
                    if (data.Length - pos < 4)
                        return false;
                    fields.Add(new UnknownField(number, type, BinaryPrimitives.ReadUInt32LittleEndian(data[pos..]), null, null));
                    pos += 4;
                    break;
                case WireType.LengthDelimited:
                    if (!TryReadVarint(data, ref pos, out var len) || len > (ulong)(data.Length - pos))
                        return false;
                    fields.Add(new UnknownField(number, type, 0, data.Slice(pos, (int)len).ToArray(), null));
                    pos += (int)len;
                    break;
                case WireType.StartGroup:
                    var inner = new List<UnknownField>();
                    if (!ReadFields(data, ref pos, inner, number, depth + 1))
                        return false;
                    fields.Add(new UnknownField(number, type, 0, null, inner));
                    break;
                case WireType.EndGroup:
                    return number == endGroupNumber;
                default:
                    return false;
            }
        }
        // Running out of bytes inside a group is an error; at top level it is the end.
        return endGroupNumber == 0;
    }

    private static bool TryReadVarint(ReadOnlySpan<byte> data, ref int pos, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length)
                return false;
            var b = data[pos++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
                return true;
        }
        return false;
    }
}
