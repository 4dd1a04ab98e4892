using System.Globalization;

namespace Butterfly.Cli.CommandLine;

/// <summary>
/// Walks the words of one command (one segment of a ` + ` chain). Global options met on
/// the way are consumed into <see cref="GlobalOptions"/>, so they work anywhere on the
/// line; the command's own parser sees only its words. A word read as the value of an
/// option (<see cref="Value"/>) is never taken for a global option, which is what makes
/// <c>nic update --ip -e</c> mean "clear the IPs" rather than "-e endpoint".
/// <c>--option=value</c> is accepted for every option that takes a value.
/// </summary>
internal sealed class ArgScanner
{
    private readonly IReadOnlyList<string> _args;
    private readonly GlobalOptions _globals;
    private int _pos;
    private string? _inlineValue;

    public ArgScanner(IReadOnlyList<string> args, GlobalOptions globals)
    {
        _args = args;
        _globals = globals;
    }

    /// <summary>The command path parsed so far ("nic sg add"), for messages and usage.</summary>
    public string Path { get; set; } = "";

    /// <summary>Whether -h/--help appears among this command's words.</summary>
    public bool HelpRequested => _args.Any(a => a is "-h" or "--help");

    /// <summary>Next word that is not a global option, or false at the end.</summary>
    public bool TryNext(out string word)
    {
        SkipGlobals();
        if (_pos >= _args.Count)
        {
            word = "";
            return false;
        }
        (word, _inlineValue) = Split(_args[_pos++]);
        return true;
    }

    /// <summary>The next non-global word without consuming it (null at the end).</summary>
    public string? Peek()
    {
        SkipGlobals();
        return _pos < _args.Count ? _args[_pos] : null;
    }

    private void SkipGlobals()
    {
        if (_inlineValue is not null)
            throw Error($"option takes no value: '={_inlineValue}'");
        while (_pos < _args.Count)
        {
            var (name, inline) = Split(_args[_pos]);
            if (!IsGlobal(name))
                return;
            _pos++;
            _inlineValue = inline;
            ApplyGlobal(name);
            if (_inlineValue is not null)
                throw new CommandLineException($"option {name} takes no value");
        }
    }

    private static (string Name, string? Inline) Split(string token)
    {
        var eq = token.StartsWith("--", StringComparison.Ordinal) ? token.IndexOf('=', StringComparison.Ordinal) : -1;
        return eq > 2 ? (token[..eq], token[(eq + 1)..]) : (token, null);
    }

    /// <summary>The value of <paramref name="option"/>: the next word, whatever it looks like.</summary>
    public string Value(string option)
    {
        if (_inlineValue is not null)
        {
            var v = _inlineValue;
            _inlineValue = null;
            return v;
        }
        if (_pos >= _args.Count)
            throw Error($"option {option} needs a value");
        return _args[_pos++];
    }

    public CommandLineException Error(string message) =>
        new(Path.Length == 0 ? message : $"{Path}: {message} (see \"butterfly {Path} help\")");

    public CommandLineException Unexpected(string word) =>
        Error(word.StartsWith('-') ? $"unknown option {word}" : $"unexpected argument '{word}'");

    /// <summary>Consumes one positional argument or fails with "missing NAME".</summary>
    public string Required(string name)
    {
        if (!TryNext(out var word))
            throw Error($"missing {name}");
        if (word.StartsWith('-'))
            throw Unexpected(word);
        return word;
    }

    /// <summary>Fails if any word is left.</summary>
    public void End()
    {
        if (TryNext(out var word))
            throw Unexpected(word);
    }

    private static bool IsGlobal(string token) => token is "-e" or "--endpoint" or "-t" or "--timeout"
        or "-k" or "--key" or "-K" or "--curve-key" or "--server-key" or "-v" or "--verbose" or "-V" or "--version" or "-h" or "--help";

    private void ApplyGlobal(string token)
    {
        switch (token)
        {
            case "-e" or "--endpoint":
                _globals.Endpoint = Value(token);
                break;
            case "-t" or "--timeout":
                var text = Value(token);
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms <= 0)
                    throw new CommandLineException($"{token}: '{text}' is not a timeout in milliseconds (a positive integer)");
                _globals.Timeout = TimeSpan.FromMilliseconds(ms);
                break;
            case "-k" or "--key":
                _globals.KeyFile = Value(token);
                break;
            case "-K" or "--curve-key":
                _globals.CurveKeyFile = Value(token);
                break;
            case "--server-key":
                _globals.ServerKeyFile = Value(token);
                break;
            case "-v" or "--verbose":
                _globals.Verbose = true;
                break;
            case "-V" or "--version":
                _globals.Version = true;
                break;
            case "-h" or "--help":
                _globals.Help = true;
                break;
        }
    }
}
