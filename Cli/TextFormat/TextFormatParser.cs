using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Butterfly.Cli.TextFormat;

/// <summary>Outcome of parsing text format: the message, or an error with its position.</summary>
internal sealed record TextFormatParseResult(IMessage? Message, string? Error)
{
    public bool Ok => Message is not null;
}

/// <summary>
/// Parses protobuf text format into a message through its descriptor, accepting what
/// <see cref="TextFormatPrinter"/> prints plus the liberties of C++ <c>TextFormat::Parser</c>:
/// optional ':' before a message, '{ }' or '&lt; &gt;' blocks, '#' comments, single or double
/// quotes, adjacent string literals concatenated, ',' or ';' after a field, repeated fields
/// given several times or as a list <c>[a, b]</c>, enums by name or number, integers in
/// decimal, hex or octal. Like C++, a singular field given twice and a missing required
/// field are errors. Errors are reported as "line:column: reason".
/// </summary>
internal sealed class TextFormatParser
{
    private readonly TextFormatTokenizer _tokens;

    private TextFormatParser(string text) => _tokens = new TextFormatTokenizer(text);

    public static TextFormatParseResult Parse(string text, MessageDescriptor descriptor)
    {
        try
        {
            var parser = new TextFormatParser(text);
            var message = NewMessage(descriptor);
            parser.ParseFields(message, endSymbol: null);
            var missing = new List<string>();
            CollectMissingRequired(message, "", missing);
            if (missing.Count > 0)
                return new TextFormatParseResult(null, "Message missing required fields: " + string.Join(", ", missing));
            return new TextFormatParseResult(message, null);
        }
        catch (TextFormatException e)
        {
            return new TextFormatParseResult(null, e.Message);
        }
    }

    public static TextFormatParseResult Parse<T>(string text)
        where T : IMessage<T>, new() => Parse(text, new T().Descriptor);

    private Token Current => _tokens.Current;

    private static IMessage NewMessage(MessageDescriptor descriptor) => descriptor.Parser.ParseFrom(ByteString.Empty);

    private TextFormatException Error(string message) => new(Current.Line, Current.Column, message);

    private bool TryConsume(string symbol)
    {
        if (Current.Kind == TokenKind.Symbol && Current.Text == symbol)
        {
            _tokens.Next();
            return true;
        }
        return false;
    }

    private void Expect(string symbol)
    {
        if (!TryConsume(symbol))
            throw Error($"Expected \"{symbol}\", found \"{Current.Text}\".");
    }

    private void ParseFields(IMessage message, string? endSymbol)
    {
        var seen = new HashSet<int>();
        while (true)
        {
            if (endSymbol is null ? Current.Kind == TokenKind.End : TryConsume(endSymbol))
                return;
            if (Current.Kind == TokenKind.End)
                throw Error($"Expected \"{endSymbol}\".");
            ParseField(message, seen);
            if (!TryConsume(";"))
                TryConsume(",");
        }
    }

    private void ParseField(IMessage message, HashSet<int> seen)
    {
        var descriptor = message.Descriptor;
        if (Current.Kind != TokenKind.Identifier)
            throw Error($"Expected identifier, found \"{Current.Text}\".");
        var name = Current.Text;
        var field = descriptor.FindFieldByName(name);
        // A group is named by its type in text format.
        field ??= descriptor.Fields.InDeclarationOrder().FirstOrDefault(f => f.FieldType == FieldType.Group && f.MessageType.Name == name);
        if (field is null)
            throw Error($"Message type \"{descriptor.FullName}\" has no field named \"{name}\".");
        if (!field.IsRepeated && !seen.Add(field.FieldNumber))
            throw Error($"Non-repeated field \"{name}\" is specified multiple times.");
        _tokens.Next();

        var isMessage = field.FieldType is FieldType.Message or FieldType.Group;
        var hadColon = TryConsume(":");
        if (!hadColon && !isMessage)
            throw Error($"Expected \":\", found \"{Current.Text}\".");
        if (Current.Kind == TokenKind.Symbol && Current.Text == "[" && (hadColon || isMessage))
        {
            if (!field.IsRepeated)
                throw Error($"Field \"{name}\" is not repeated, a list is not allowed.");
            _tokens.Next();
            if (TryConsume("]"))
                return;
            do
            {
                AddValue(message, field);
            }
            while (TryConsume(","));
            Expect("]");
            return;
        }
        AddValue(message, field);
    }

    private void AddValue(IMessage message, FieldDescriptor field)
    {
        object value;
        if (field.FieldType is FieldType.Message or FieldType.Group)
        {
            string end;
            if (TryConsume("{"))
                end = "}";
            else if (TryConsume("<"))
                end = ">";
            else
                throw Error($"Expected \"{{\", found \"{Current.Text}\".");
            var sub = NewMessage(field.MessageType);
            ParseFields(sub, end);
            value = sub;
        }
        else
        {
            value = ParseScalar(field);
        }

        if (field.IsMap)
            throw Error($"Map field \"{field.Name}\" is not supported.");
        if (field.IsRepeated)
            ((IList)field.Accessor.GetValue(message)).Add(value);
        else
            field.Accessor.SetValue(message, value);
    }

    private object ParseScalar(FieldDescriptor field)
    {
        switch (field.FieldType)
        {
            case FieldType.String:
                var start = Current;
                var bytes = ReadStrings();
                try
                {
                    return new UTF8Encoding(false, true).GetString(bytes);
                }
                catch (DecoderFallbackException)
                {
                    throw new TextFormatException(start.Line, start.Column, $"Field \"{field.Name}\" is a string and must be valid UTF-8.");
                }
            case FieldType.Bytes:
                return ByteString.CopyFrom(ReadStrings());
            case FieldType.Bool:
                return ReadBool(field);
            case FieldType.Enum:
                return ReadEnum(field);
            case FieldType.Float:
                return (float)ReadFloating(field);
            case FieldType.Double:
                return ReadFloating(field);
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                return (int)ReadInteger(field, int.MinValue, int.MaxValue);
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                return (long)ReadInteger(field, long.MinValue, long.MaxValue);
            case FieldType.UInt32 or FieldType.Fixed32:
                return (uint)ReadInteger(field, 0, uint.MaxValue);
            case FieldType.UInt64 or FieldType.Fixed64:
                return (ulong)ReadInteger(field, 0, ulong.MaxValue);
            default:
                throw Error($"Field \"{field.Name}\" has an unsupported type.");
        }
    }

    private byte[] ReadStrings()
    {
        if (Current.Kind != TokenKind.String)
            throw Error($"Expected string, found \"{Current.Text}\".");
        var all = new List<byte>();
        while (Current.Kind == TokenKind.String)
        {
            all.AddRange(Current.StringBytes!);
            _tokens.Next();
        }
        return all.ToArray();
    }

    private bool ReadBool(FieldDescriptor field)
    {
        var token = Current;
        if (token.Kind == TokenKind.Identifier)
        {
            _tokens.Next();
            return token.Text switch
            {
                "true" or "True" or "t" => true,
                "false" or "False" or "f" => false,
                _ => throw new TextFormatException(token.Line, token.Column, $"Invalid value for boolean field \"{field.Name}\". Value: \"{token.Text}\"."),
            };
        }
        if (token.Kind == TokenKind.Integer)
        {
            var v = ReadInteger(field, 0, 1);
            return v == 1;
        }
        throw Error($"Invalid value for boolean field \"{field.Name}\". Value: \"{token.Text}\".");
    }

    private object ReadEnum(FieldDescriptor field)
    {
        var token = Current;
        int number;
        if (token.Kind == TokenKind.Identifier)
        {
            var value = field.EnumType.FindValueByName(token.Text)
                ?? throw Error($"Unknown enumeration value of \"{token.Text}\" for field \"{field.Name}\".");
            _tokens.Next();
            number = value.Number;
        }
        else
        {
            number = (int)ReadInteger(field, int.MinValue, int.MaxValue);
            if (field.EnumType.FindValueByNumber(number) is null)
                throw new TextFormatException(token.Line, token.Column, $"Unknown enumeration value of \"{number}\" for field \"{field.Name}\".");
        }
        return Enum.ToObject(field.EnumType.ClrType, number);
    }

    private BigInteger ReadInteger(FieldDescriptor field, BigInteger min, BigInteger max)
    {
        var start = Current;
        var negative = TryConsume("-");
        if (Current.Kind != TokenKind.Integer)
            throw Error($"Expected integer for field \"{field.Name}\", found \"{Current.Text}\".");
        var value = ParseIntegerText(Current.Text);
        _tokens.Next();
        if (negative)
            value = -value;
        if (value < min || value > max)
            throw new TextFormatException(start.Line, start.Column, $"Integer out of range for field \"{field.Name}\" ({value}).");
        return value;
    }

    private BigInteger ParseIntegerText(string text)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return BigInteger.Parse("0" + text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        if (text.Length > 1 && text[0] == '0')
        {
            BigInteger octal = 0;
            foreach (var c in text)
            {
                if (c > '7')
                    throw Error($"Invalid octal number \"{text}\".");
                octal = (octal * 8) + (c - '0');
            }
            return octal;
        }
        return BigInteger.Parse(text, CultureInfo.InvariantCulture);
    }

    private double ReadFloating(FieldDescriptor field)
    {
        var negative = TryConsume("-");
        var token = Current;
        double value;
        if (token.Kind == TokenKind.Identifier)
        {
            value = token.Text.ToLowerInvariant() switch
            {
                "inf" or "infinity" => double.PositiveInfinity,
                "nan" => double.NaN,
                _ => throw Error($"Expected number for field \"{field.Name}\", found \"{token.Text}\"."),
            };
        }
        else if (token.Kind is TokenKind.Integer or TokenKind.Float)
        {
            var text = token.Text.TrimEnd('f', 'F');
            value = token.Kind == TokenKind.Integer
                ? (double)ParseIntegerText(text)
                : double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        else
        {
            throw Error($"Expected number for field \"{field.Name}\", found \"{token.Text}\".");
        }
        _tokens.Next();
        return negative ? -value : value;
    }

    private static void CollectMissingRequired(IMessage message, string prefix, List<string> missing)
    {
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            var path = prefix + field.Name;
            if (field.IsRequired && !field.Accessor.HasValue(message))
                missing.Add(path);
            if (field.FieldType is not (FieldType.Message or FieldType.Group) || field.IsMap)
                continue;
            if (field.IsRepeated)
            {
                var i = 0;
                foreach (IMessage item in (IList)field.Accessor.GetValue(message))
                    CollectMissingRequired(item, $"{path}[{i++}].", missing);
            }
            else if (field.Accessor.GetValue(message) is IMessage sub)
            {
                CollectMissingRequired(sub, path + ".", missing);
            }
        }
    }
}
