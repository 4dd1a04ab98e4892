using Butterfly.Cli.CommandLine;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;
using Request = Butterfly.Wire.MessageV0.Types.Request;

namespace Butterfly.Cli.Commands;

/// <summary>
/// <c>butterfly dump</c>: the whole configuration as the text-format <c>proto.Messages</c>
/// that <c>butterfly request</c> replays: every security group (rules and members) as
/// sg_add, then every NIC as nic_add with all the fields nic_details returned (type
/// included, which the original tool lost for TAP NICs) but port_error, which is the port's
/// state, not configuration. Groups come first so that a
/// daemon which checks references sees them before the NICs naming them.
/// </summary>
internal static class DumpCommand
{
    public static ICliCommand Parse(ArgScanner s)
    {
        if (Words.WantsUsage(s, "dump", out var usage))
            return usage;
        s.End();
        return new RunCommand(Run);
    }

    private static int Run(CliContext ctx)
    {
        var request = Requests.Of(
            [new Request { NicDetails = "" }, new Request { SgDetails = "" }],
            ["nics", "sgs"]);
        var reply = ctx.Api.Call(request);
        if (reply is null)
            return 1;
        var nics = ById(reply, "nics", 0).NicDetails;
        var sgs = ById(reply, "sgs", 1).SgDetails;
        ctx.Out.WriteLine(TextFormatPrinter.Print(Build(sgs, nics)));
        return 0;
    }

    // Replies echo the message_id; match on it like the original, by position otherwise.
    private static MessageV0.Types.Response ById(Messages reply, string id, int index) =>
        reply.Messages_.FirstOrDefault(m => m.Message0?.MessageId == id)?.Message0.Response
            ?? Requests.Response(reply, index);

    /// <summary>The replayable request for a configuration (also used by <c>state --at</c>).</summary>
    public static Messages Build(IEnumerable<MessageV0.Types.Sg> sgs, IEnumerable<MessageV0.Types.Nic> nics)
    {
        var requests = sgs.Select(sg => new Request { SgAdd = sg.Clone() })
            .Concat(nics.Select(nic => new Request { NicAdd = Configuration(nic) }));
        return Requests.Of(requests, null);
    }

    /// <summary>The NIC without what describes its port's state rather than its configuration.</summary>
    private static MessageV0.Types.Nic Configuration(MessageV0.Types.Nic nic)
    {
        var copy = nic.Clone();
        copy.ClearPortError();
        return copy;
    }
}
