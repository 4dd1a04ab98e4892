using Butterfly.Wire;
using Google.Protobuf;

namespace Butterfly.Api.Zmq.Server;

/// <summary>
/// A request body after <see cref="RequestEnvelope.Open"/>: either a complete reply to send
/// as is (the request was refused before dispatch), or the <c>Message</c>s to dispatch.
/// </summary>
internal sealed class OpenedRequest
{
    /// <summary>The final reply when the request is refused as a whole; null when <see cref="Items"/> are to be dispatched.</summary>
    public Messages? Reply { get; private init; }

    /// <summary>The request messages, in order; one reply Message is owed to each.</summary>
    public IReadOnlyList<Message> Items { get; private init; } = [];

    /// <summary>The request came in the encrypted envelope, so its reply must too.</summary>
    public bool Encrypted { get; private init; }

    /// <summary>Why the request was refused, for the log; null when it was not.</summary>
    public string? Problem { get; private init; }

    public static OpenedRequest Refused(Messages reply, string problem) => new() { Reply = reply, Problem = problem };

    public static OpenedRequest ToDispatch(IReadOnlyList<Message> items, bool encrypted) => new() { Items = items, Encrypted = encrypted };
}

/// <summary>
/// Decodes request bodies and encodes replies (docs/protocol.md, "Envelope" and "Legacy
/// encrypted envelope"). Every input, however malformed, yields a reply: too large or
/// undecodable → PARSE_ERROR; no messages → REJECTED; with a key, clear requests → REJECTED, a
/// missing payload → Encrypted.Error NOT_SUPPORTED, a payload that does not open →
/// Encrypted.Error REJECTED. Pure: no sockets, no state besides the key.
/// </summary>
internal sealed class RequestEnvelope(byte[]? key, int maxRequestBytes = WireProtocol.MaxRequestBytes)
{
    /// <summary>A Messages reply carrying one Message with <paramref name="code"/>.</summary>
    public static Messages ErrorReply(Error.Types.Code code) =>
        new() { Messages_ = { new Message { Revision = WireProtocol.Revision, Error = new Error { Code = code } } } };

    public OpenedRequest Open(ReadOnlySpan<byte> body)
    {
        var clear = Decode(body, out var problem);
        if (clear is null)
        {
            return OpenedRequest.Refused(ErrorReply(Error.Types.Code.ParseError), problem!);
        }

        if (key is null)
        {
            if (clear.Messages_.Count > 0)
            {
                return OpenedRequest.ToDispatch(clear.Messages_, encrypted: false);
            }

            return OpenedRequest.Refused(
                ErrorReply(Error.Types.Code.Rejected),
                clear.Encrypted is null ? "empty request (no messages)" : "encrypted request but no key is configured");
        }

        if (clear.Encrypted is null)
        {
            return OpenedRequest.Refused(ErrorReply(Error.Types.Code.Rejected), "clear request refused: a key is configured, only encrypted requests are accepted");
        }

        return OpenEncrypted(clear.Encrypted, key);
    }

    /// <summary>Serializes a reply, sealing it when the request came encrypted.</summary>
    public byte[] Encode(Messages reply, bool encrypted)
    {
        var bytes = reply.ToByteArray();
        if (!encrypted)
        {
            return bytes;
        }

        var sealedReply = new Messages
        {
            Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(bytes, key!)) },
        };
        return sealedReply.ToByteArray();
    }

    private OpenedRequest OpenEncrypted(Encrypted encrypted, byte[] aesKey)
    {
        if (!encrypted.HasAes256CbcSha512)
        {
            return OpenedRequest.Refused(EncryptedError(Encrypted.Types.Error.Types.Code.NotSupported), "encrypted request without an aes256cbc_sha512 payload");
        }

        var status = LegacyEnvelope.TryOpen(encrypted.Aes256CbcSha512.Span, aesKey, out var inner);
        if (status != EnvelopeOpenStatus.Ok)
        {
            return OpenedRequest.Refused(EncryptedError(Encrypted.Types.Error.Types.Code.Rejected), $"encrypted payload refused: {status}");
        }

        // From here on the peer holds the key, so refusals travel encrypted like any reply.
        var request = Decode(inner, out var problem);
        if (request is null)
        {
            return Sealed(Error.Types.Code.ParseError, problem!);
        }

        if (request.Encrypted is not null)
        {
            return Sealed(Error.Types.Code.Rejected, "encryption inside encryption");
        }

        return request.Messages_.Count == 0
            ? Sealed(Error.Types.Code.Rejected, "empty encrypted request (no messages)")
            : OpenedRequest.ToDispatch(request.Messages_, encrypted: true);
    }

    private OpenedRequest Sealed(Error.Types.Code code, string problem)
    {
        var reply = Messages.Parser.ParseFrom(Encode(ErrorReply(code), encrypted: true));
        return OpenedRequest.Refused(reply, problem);
    }

    private static Messages EncryptedError(Encrypted.Types.Error.Types.Code code) =>
        new() { Encrypted = new Encrypted { Error = new Encrypted.Types.Error { Code = code } } };

    private Messages? Decode(ReadOnlySpan<byte> body, out string? problem)
    {
        if (body.Length > maxRequestBytes)
        {
            problem = $"request of {body.Length} bytes is larger than the {maxRequestBytes}-byte limit";
            return null;
        }

        try
        {
            var messages = Messages.Parser.ParseFrom(body);
            // The C# parser does not check proto2 required fields; the original daemon did
            // (IsInitialized), and handlers rely on them being present.
            if (!messages.IsInitialized())
            {
                problem = "undecodable request: a required field is missing";
                return null;
            }

            problem = null;
            return messages;
        }
        catch (Exception e)
        {
            // InvalidProtocolBufferException in practice; anything else is refused the same way.
            problem = $"undecodable request: {e.Message}";
            return null;
        }
    }
}
