namespace Butterfly.Wire;

/// <summary>Constants of the wire contract shared by butterflyd and the butterfly CLI.</summary>
public static class WireProtocol
{
    /// <summary>
    /// The protocol revision replies carry in <c>Message.revision</c> and <c>-V</c> prints.
    /// Revision 7 only added optional fields (see docs/protocol-changelog.md), which old
    /// clients never see, so replies keep announcing the revision every client understands.
    /// </summary>
    public const uint Revision = 6;

    /// <summary>Largest serialized request the daemon decodes; larger ones get PARSE_ERROR.</summary>
    public const int MaxRequestBytes = 16 * 1024 * 1024;

    /// <summary>The daemon's default bind endpoint.</summary>
    public const string DefaultServerEndpoint = "tcp://0.0.0.0:9999";

    /// <summary>The client's default endpoint.</summary>
    public const string DefaultClientEndpoint = "tcp://127.0.0.1:9999";
}
