using System.Globalization;
using System.Net;

namespace Butterfly.Api.Zmq.Metrics;

/// <summary>
/// Where the metrics are served (<c>--metrics-endpoint HOST:PORT</c>): an IPv4 address, an IPv6
/// address in brackets, <c>localhost</c>, or <c>*</c> for every address; the scrape URL is
/// <c>http://HOST:PORT/metrics</c>.
/// </summary>
internal readonly record struct MetricsEndpoint(string Host, int Port)
{
    /// <summary>The host as HttpListener wants it in a prefix (<c>+</c> for every address).</summary>
    public string ListenerHost => Host == "*" ? "+" : Host;

    /// <summary>Parses HOST:PORT; null with <paramref name="error"/> saying why not.</summary>
    public static MetricsEndpoint? Parse(string text, out string? error)
    {
        error = null;
        var value = text.Trim();
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            error = "expected HOST:PORT, e.g. 127.0.0.1:9110";
            return null;
        }
        var host = value[..colon];
        var portText = value[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            error = $"port '{portText}' is not a number between 1 and 65535";
            return null;
        }
        var hostOk = host is "*" or "localhost"
            || (host.StartsWith('[') && host.EndsWith(']') && IPAddress.TryParse(host[1..^1], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            || (IPAddress.TryParse(host, out var v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && host.Split('.').Length == 4);
        if (!hostOk)
        {
            error = $"host '{host}' is not an IPv4 address, [an IPv6 address], localhost or *";
            return null;
        }
        return new MetricsEndpoint(host, port);
    }

    public override string ToString() => $"http://{Host}:{Port.ToString(CultureInfo.InvariantCulture)}/metrics";
}
