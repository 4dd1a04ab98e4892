using Butterfly.Wire;

namespace Butterfly.Cli.CommandLine;

/// <summary>Options accepted anywhere on the line, shared by every chained command.</summary>
internal sealed class GlobalOptions
{
    public string Endpoint { get; set; } = WireProtocol.DefaultClientEndpoint;

    /// <summary>Reply timeout per request; null waits forever like the original client.</summary>
    public TimeSpan? Timeout { get; set; }

    public string? KeyFile { get; set; }

    /// <summary>The client's CURVE key pair (-K/--curve-key): a secret certificate or key.</summary>
    public string? CurveKeyFile { get; set; }

    /// <summary>The daemon's CURVE public key (--server-key): its public certificate or key.</summary>
    public string? ServerKeyFile { get; set; }

    public bool Verbose { get; set; }

    public bool Version { get; set; }

    public bool Help { get; set; }
}
