using System.Collections;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Butterfly.Cli.Events;

/// <summary>
/// Writes a message as plain JSON for scripts: proto field names, only fields that are
/// set, repeated fields as arrays, enums by name, integers as numbers, bytes in base64.
/// </summary>
internal static class ProtoJson
{
    public static void Write(Utf8JsonWriter json, IMessage message)
    {
        json.WriteStartObject();
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            var value = field.Accessor.GetValue(message);
            if (field.IsRepeated)
            {
                var list = (IList)value;
                if (list.Count == 0)
                    continue;
                json.WritePropertyName(field.Name);
                json.WriteStartArray();
                foreach (var item in list)
                    WriteValue(json, field, item);
                json.WriteEndArray();
            }
            else if (field.HasPresence ? field.Accessor.HasValue(message) : value is not null)
            {
                json.WritePropertyName(field.Name);
                WriteValue(json, field, value);
            }
        }
        json.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter json, FieldDescriptor field, object value)
    {
        switch (value)
        {
            case IMessage m: Write(json, m); break;
            case string s: json.WriteStringValue(s); break;
            case bool b: json.WriteBooleanValue(b); break;
            case ByteString bytes: json.WriteBase64StringValue(bytes.Span); break;
            case int i when field.FieldType != FieldType.Enum: json.WriteNumberValue(i); break;
            case uint u: json.WriteNumberValue(u); break;
            case long l: json.WriteNumberValue(l); break;
            case ulong ul: json.WriteNumberValue(ul); break;
            case double d: json.WriteNumberValue(d); break;
            case float f: json.WriteNumberValue(f); break;
            default:
                var number = Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
                var name = field.EnumType.FindValueByNumber(number)?.Name;
                if (name is null)
                    json.WriteNumberValue(number);
                else
                    json.WriteStringValue(name);
                break;
        }
    }
}
