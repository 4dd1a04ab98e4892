using System.Globalization;
using System.Text;

namespace Butterfly.Cli.TextFormat;

internal enum TokenKind
{
    End,
    Identifier,
    Integer,
    Float,
    String,
    Symbol,
}

/// <summary>A token with its 1-based position, for error messages.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, int Column, byte[]? StringBytes = null);

/// <summary>A text-format syntax or schema error at a 1-based line and column.</summary>
internal sealed class TextFormatException(int line, int column, string message)
    : Exception($"{line}:{column}: {message}")
{
    public int Line { get; } = line;
    public int Column { get; } = column;
    public string Reason { get; } = message;
}

/// <summary>
/// Splits protobuf text format into tokens like protobuf C++'s io::Tokenizer: identifiers,
/// integers (decimal, 0x hex, 0 octal), floats, quoted strings (single or double quotes,
/// C escapes, decoded to bytes), one-character symbols; '#' starts a comment to the end
/// of the line.
/// </summary>
internal sealed class TextFormatTokenizer
{
    private readonly string _text;
    private int _pos;
    private int _line = 1;
    private int _lineStart;

    public TextFormatTokenizer(string text)
    {
        _text = text;
        Current = ReadToken();
    }

    public Token Current { get; private set; }

    public void Next() => Current = ReadToken();

    private Token ReadToken()
    {
        SkipWhitespaceAndComments();
        var line = _line;
        var column = _pos - _lineStart + 1;
        if (_pos >= _text.Length)
            return new Token(TokenKind.End, "", line, column);

        var c = _text[_pos];
        if (char.IsAsciiLetter(c) || c == '_')
        {
            var start = _pos;
            while (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '_'))
                _pos++;
            return new Token(TokenKind.Identifier, _text[start.._pos], line, column);
        }
        if (char.IsAsciiDigit(c) || (c == '.' && _pos + 1 < _text.Length && char.IsAsciiDigit(_text[_pos + 1])))
            return ReadNumber(line, column);
        if (c is '"' or '\'')
            return ReadString(c, line, column);
        _pos++;
        return new Token(TokenKind.Symbol, c.ToString(), line, column);
    }

    private void SkipWhitespaceAndComments()
    {
        while (_pos < _text.Length)
        {
            var c = _text[_pos];
            if (c == '\n')
            {
                _pos++;
                _line++;
                _lineStart = _pos;
            }
            else if (c is ' ' or '\t' or '\r' or '\v' or '\f')
            {
                _pos++;
            }
            else if (c == '#')
            {
                while (_pos < _text.Length && _text[_pos] != '\n')
                    _pos++;
            }
            else
            {
                return;
            }
        }
    }

    private Token ReadNumber(int line, int column)
    {
        var start = _pos;
        var isFloat = false;
        if (_text[_pos] == '0' && _pos + 1 < _text.Length && (_text[_pos + 1] is 'x' or 'X'))
        {
            _pos += 2;
            while (_pos < _text.Length && char.IsAsciiHexDigit(_text[_pos]))
                _pos++;
            if (_pos == start + 2)
                throw new TextFormatException(line, column, "\"0x\" must be followed by hex digits.");
        }
        else
        {
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
                _pos++;
            if (_pos < _text.Length && _text[_pos] == '.')
            {
                isFloat = true;
                _pos++;
                while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
                    _pos++;
            }
            if (_pos < _text.Length && (_text[_pos] is 'e' or 'E'))
            {
                isFloat = true;
                _pos++;
                if (_pos < _text.Length && (_text[_pos] is '+' or '-'))
                    _pos++;
                var digits = _pos;
                while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
                    _pos++;
                if (_pos == digits)
                    throw new TextFormatException(line, column, "\"e\" must be followed by exponent.");
            }
            if (_pos < _text.Length && (_text[_pos] is 'f' or 'F'))
            {
                isFloat = true;
                _pos++;
            }
        }
        if (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '_'))
            throw new TextFormatException(line, column, $"Need space between number and identifier near \"{_text[start..(_pos + 1)]}\".");
        return new Token(isFloat ? TokenKind.Float : TokenKind.Integer, _text[start.._pos], line, column);
    }

    private Token ReadString(char quote, int line, int column)
    {
        var start = _pos;
        _pos++;
        var bytes = new List<byte>();
        Span<byte> utf8 = stackalloc byte[4];
        while (true)
        {
            if (_pos >= _text.Length)
                throw new TextFormatException(line, column, "Unexpected end of string.");
            var c = _text[_pos];
            if (c == '\n')
                throw new TextFormatException(line, column, "String literals cannot cross line boundaries.");
            if (c == quote)
            {
                _pos++;
                return new Token(TokenKind.String, _text[start.._pos], line, column, bytes.ToArray());
            }
            if (c == '\\')
            {
                ReadEscape(bytes, line);
                continue;
            }
            var rune = Rune.GetRuneAt(_text, _pos);
            var n = rune.EncodeToUtf8(utf8);
            for (var i = 0; i < n; i++)
                bytes.Add(utf8[i]);
            _pos += rune.Utf16SequenceLength;
        }
    }

    private void ReadEscape(List<byte> bytes, int line)
    {
        var escColumn = _pos - _lineStart + 1;
        _pos++;
        if (_pos >= _text.Length)
            throw new TextFormatException(line, escColumn, "Unexpected end of string.");
        var c = _text[_pos++];
        switch (c)
        {
            case 'a': bytes.Add(7); return;
            case 'b': bytes.Add(8); return;
            case 'f': bytes.Add(12); return;
            case 'n': bytes.Add(10); return;
            case 'r': bytes.Add(13); return;
            case 't': bytes.Add(9); return;
            case 'v': bytes.Add(11); return;
            case '\\' or '?' or '\'' or '"': bytes.Add((byte)c); return;
        }
        if (c is >= '0' and <= '7')
        {
            var value = c - '0';
            for (var i = 0; i < 2 && _pos < _text.Length && _text[_pos] is >= '0' and <= '7'; i++)
                value = (value * 8) + (_text[_pos++] - '0');
            bytes.Add((byte)value);
            return;
        }
        if (c == 'x')
        {
            var value = 0;
            var digits = 0;
            for (; digits < 2 && _pos < _text.Length && char.IsAsciiHexDigit(_text[_pos]); digits++)
                value = (value * 16) + Convert.ToInt32(_text[_pos++].ToString(), 16);
            if (digits == 0)
                throw new TextFormatException(line, escColumn, "Expected hex digits for escape sequence.");
            bytes.Add((byte)value);
            return;
        }
        if (c is 'u' or 'U')
        {
            var count = c == 'u' ? 4 : 8;
            if (_pos + count > _text.Length || !uint.TryParse(_text.AsSpan(_pos, count), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var cp) || !Rune.IsValid(cp))
                throw new TextFormatException(line, escColumn, "Expected a valid unicode code point after \\" + c + ".");
            _pos += count;
            Span<byte> utf8 = stackalloc byte[4];
            var n = new Rune(cp).EncodeToUtf8(utf8);
            for (var i = 0; i < n; i++)
                bytes.Add(utf8[i]);
            return;
        }
        throw new TextFormatException(line, escColumn, $"Invalid escape sequence \"\\{c}\" in string literal.");
    }
}
