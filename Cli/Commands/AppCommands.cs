using System.Globalization;
using Butterfly.Cli.CommandLine;
using Request = Butterfly.Wire.MessageV0.Types.Request;

namespace Butterfly.Cli.Commands;

/// <summary><c>butterfly status</c> (and its <c>dataplane</c> form) and <c>butterfly shutdown</c>.</summary>
internal static class AppCommands
{
    public static ICliCommand Status(ArgScanner s)
    {
        // `status dataplane` is its own command; plain `status` prints what it always did.
        if (s.Peek() == "dataplane")
        {
            s.TryNext(out _);
            return DataPlaneCommand.Parse(s);
        }
        if (Words.WantsUsage(s, "status", out var usage))
            return usage;
        s.End();
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(new Request { AppStatus = true }));
            if (reply is null)
                return 1;
            var status = Requests.Response(reply).AppStatus;
            if (status is null)
            {
                ctx.Err.WriteLine("no status received");
                return 1;
            }
            // Same lines as the original client.
            if (status.HasStartDate)
                ctx.Out.WriteLine("start date: " + status.StartDate.ToString(CultureInfo.InvariantCulture));
            if (status.HasCurrentDate)
                ctx.Out.WriteLine("current date: " + status.CurrentDate.ToString(CultureInfo.InvariantCulture));
            if (status.HasRequestCounter)
                ctx.Out.WriteLine("request counter: " + status.RequestCounter.ToString(CultureInfo.InvariantCulture));
            // Protocol revision 10, printed only when something is broken.
            if (status.HasDataPathError)
                ctx.Out.WriteLine("data path error: " + status.DataPathError);
            foreach (var error in status.NicPortError)
                ctx.Out.WriteLine($"port error: {error.NicId}: {error.Reason}");
            if (status.HasGraphDot)
            {
                ctx.Out.WriteLine("dot graph: ");
                ctx.Out.WriteLine(status.GraphDot);
            }
            return 0;
        });
    }

    public static ICliCommand Shutdown(ArgScanner s)
    {
        if (Words.WantsUsage(s, "shutdown", out var usage))
            return usage;
        s.End();
        return new RunCommand(ctx => ctx.Api.Call(Requests.Of(new Request { AppQuit = true })) is null ? 1 : 0);
    }
}
