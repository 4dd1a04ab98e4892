using Butterfly.Cli.Transport;
using Butterfly.Wire;
using Google.Protobuf;
using Response = Butterfly.Wire.MessageV0.Types.Response;

namespace Butterfly.Cli.Tests.Support;

/// <summary>
/// An in-memory stand-in for the daemon's socket: records every request and answers with
/// a scripted handler, so command tests check both what is sent and what is printed.
/// </summary>
internal sealed class FakeTransport(Func<Messages, Messages> handler) : IApiTransport
{
    public List<Messages> Requests { get; } = [];

    public ExchangeResult Exchange(byte[] request, TimeSpan? timeout)
    {
        var parsed = Messages.Parser.ParseFrom(request);
        Requests.Add(parsed);
        return new ExchangeResult(handler(parsed).ToByteArray(), null);
    }

    public void Dispose()
    {
    }
}

internal sealed record CliResult(int Code, string Out, string Err, List<Messages> Requests)
{
    /// <summary>The MessageV0 requests sent, in order, flattened over exchanges.</summary>
    public List<MessageV0.Types.Request> Sent =>
        Requests.SelectMany(m => m.Messages_).Select(m => m.Message0.Request).ToList();
}

internal static class Client
{
    public static readonly DateTimeOffset Now = new(2026, 11, 26, 10, 0, 0, TimeSpan.Zero);

    /// <summary>Runs the client in-process against <paramref name="handler"/>.</summary>
    public static CliResult Run(Func<Messages, Messages> handler, params string[] args)
    {
        var transport = new FakeTransport(handler);
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = CliApp.Run(args, stdout, stderr, _ => transport, new FixedClock(Now));
        return new CliResult(code, stdout.ToString(), stderr.ToString(), transport.Requests);
    }

    /// <summary>Runs the client against a daemon that answers every message with success.</summary>
    public static CliResult Run(params string[] args) => Run(Ok(), args);

    /// <summary>A handler answering each request message with status true, filled by <paramref name="fill"/>.</summary>
    public static Func<Messages, Messages> Ok(Action<MessageV0.Types.Request, Response>? fill = null) => request =>
    {
        var reply = new Messages();
        foreach (var m in request.Messages_)
        {
            var response = new Response { Status = new MessageV0.Types.Status { Status_ = true } };
            fill?.Invoke(m.Message0.Request, response);
            reply.Messages_.Add(new Message { Revision = 6, Message0 = new MessageV0 { Response = response, MessageId = m.Message0.MessageId } });
        }
        return reply;
    };

    /// <summary>A handler answering with a failed status and <paramref name="description"/>.</summary>
    public static Func<Messages, Messages> Fail(string description) => request =>
    {
        var reply = new Messages();
        foreach (var unused in request.Messages_)
        {
            var status = new MessageV0.Types.Status { Status_ = false, Error = new MessageV0.Types.Error { Description = description } };
            reply.Messages_.Add(new Message { Revision = 6, Message0 = new MessageV0 { Response = new Response { Status = status } } });
        }
        return reply;
    };
}

internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
