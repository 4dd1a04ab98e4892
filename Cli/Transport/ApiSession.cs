using Butterfly.Cli.CommandLine;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;
using Google.Protobuf;

namespace Butterfly.Cli.Transport;

/// <summary>
/// Sends <c>proto.Messages</c> to the daemon the way the original client did: optional
/// verbose dump of request and reply in text format, optional legacy encryption (-k), CURVE
/// on the connection (-K/--curve-key with --server-key), and the reply checks of
/// <see cref="ReplyCheck"/>. Every failure is reported on stderr here,
/// so commands only need to know whether they got a usable reply.
/// </summary>
internal sealed class ApiSession : IDisposable
{
    private readonly GlobalOptions _options;
    private readonly Func<ApiTarget, IApiTransport> _transportFactory;
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private IApiTransport? _transport;
    private byte[]? _key;

    public ApiSession(GlobalOptions options, Func<ApiTarget, IApiTransport> transportFactory, TextWriter stdout, TextWriter stderr)
    {
        _options = options;
        _transportFactory = transportFactory;
        _out = stdout;
        _err = stderr;
    }

    /// <summary>
    /// Sends <paramref name="request"/> and checks every reply message. Returns the reply, or
    /// null after printing why it failed (transport error, error reply, failed status).
    /// With <paramref name="replyToStdout"/> the reply is printed in text format even when
    /// it reports a failure (<c>request --stdout</c>).
    /// </summary>
    public Messages? Call(Messages request, bool replyToStdout = false)
    {
        var reply = Exchange(request, replyToStdout);
        if (reply is null)
            return null;
        var failure = ReplyCheck.FirstFailure(reply, request.Messages_.Count);
        if (failure is not null)
        {
            _err.Write(failure);
            return null;
        }
        return reply;
    }

    private Messages? Exchange(Messages request, bool replyToStdout)
    {
        if (_options.Verbose)
            PrintBlock("# Message to be sent:", request);

        var bytes = request.ToByteArray();
        if (_options.KeyFile is not null)
        {
            if (_key is null && !LoadKey())
                return null;
            var sealedPayload = LegacyEnvelope.Seal(bytes, _key!);
            bytes = new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(sealedPayload) } }.ToByteArray();
            if (_options.Verbose)
                _out.WriteLine("Request is encrypted");
        }

        if (_transport is null)
        {
            if (!TryCurveKeys(out var curve))
                return null;
            _transport = _transportFactory(new ApiTarget(_options.Endpoint, curve));
        }
        var result = _transport.Exchange(bytes, _options.Timeout);
        if (result.Reply is null)
        {
            _err.WriteLine("error: " + result.Error);
            return null;
        }

        Messages reply;
        try
        {
            reply = Messages.Parser.ParseFrom(result.Reply);
        }
        catch (InvalidProtocolBufferException)
        {
            _err.WriteLine("error while decoding response");
            return null;
        }

        if (reply.Encrypted is { } encrypted)
        {
            if (_options.Verbose)
                _out.WriteLine("Received encrypted response");
            var opened = Decrypt(encrypted);
            if (opened is null)
                return null;
            reply = opened;
        }
        else if (_options.Verbose)
        {
            _out.WriteLine("Received clear response");
        }

        if (_options.Verbose)
            PrintBlock("# Received message:", reply);
        else if (replyToStdout)
            _out.Write(TextFormatPrinter.Print(reply));
        return reply;
    }

    private Messages? Decrypt(Encrypted encrypted)
    {
        if (encrypted.Error is { } error)
        {
            _err.WriteLine("Encrypted message error: " + EnumName(error.Code));
            return null;
        }
        if (!encrypted.HasAes256CbcSha512)
        {
            _err.WriteLine("error: no message recognized in encrypted response");
            return null;
        }
        if (_key is null)
        {
            _err.WriteLine("error: the daemon sent an encrypted reply; give its key with -k FILE");
            return null;
        }
        var status = LegacyEnvelope.TryOpen(encrypted.Aes256CbcSha512.Span, _key, out var clear);
        if (status != EnvelopeOpenStatus.Ok)
        {
            _err.WriteLine($"error: cannot decrypt the reply ({status}); is the key right?");
            return null;
        }
        try
        {
            return Messages.Parser.ParseFrom(clear);
        }
        catch (InvalidProtocolBufferException)
        {
            _err.WriteLine("error while decoding response");
            return null;
        }
    }

    /// <summary>The CURVE keys -K/--curve-key and --server-key name (both or neither), or false after saying why not.</summary>
    private bool TryCurveKeys(out CurveClientKeys? keys)
    {
        keys = null;
        if (_options.CurveKeyFile is null && _options.ServerKeyFile is null)
            return true;
        if (_options.CurveKeyFile is null || _options.ServerKeyFile is null)
        {
            _err.WriteLine("error: CURVE needs both -K/--curve-key FILE (this client's key pair) and --server-key FILE (the daemon's public key)");
            return false;
        }
        try
        {
            var (publicKey, secretKey) = CurveKeys.ReadKeyPair(_options.CurveKeyFile, secret => NetMQ.NetMQCertificate.CreateFromSecretKey(secret).PublicKey);
            keys = new CurveClientKeys(publicKey, secretKey, CurveKeys.ReadPublicKey(_options.ServerKeyFile));
            return true;
        }
        catch (InvalidDataException e)
        {
            _err.WriteLine("cannot load CURVE keys: " + e.Message);
            return false;
        }
    }

    private bool LoadKey()
    {
        _key = LegacyEnvelope.TryLoadKeyFile(_options.KeyFile!, out var error);
        if (_key is null)
            _err.WriteLine("cannot load encryption key: " + error);
        return _key is not null;
    }

    private void PrintBlock(string title, Messages message)
    {
        _out.WriteLine("#########################");
        _out.WriteLine(title);
        _out.WriteLine(TextFormatPrinter.Print(message));
        _out.WriteLine("#########################");
    }

    private static string EnumName(Encrypted.Types.Error.Types.Code code) =>
        Encrypted.Types.Error.Descriptor.FindFieldByNumber(Encrypted.Types.Error.CodeFieldNumber)
            .EnumType.FindValueByNumber((int)code)?.Name ?? ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose() => _transport?.Dispose();
}
