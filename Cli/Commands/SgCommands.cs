using Butterfly.Cli.CommandLine;
using Butterfly.Wire;
using Request = Butterfly.Wire.MessageV0.Types.Request;

namespace Butterfly.Cli.Commands;

/// <summary><c>butterfly sg list|add|del</c> and the <c>sg member</c> commands; <c>sg rule</c> is in <see cref="SgRuleCommands"/>.</summary>
internal static class SgCommands
{
    public static ICliCommand Parse(ArgScanner s)
    {
        var sub = Words.SubCommand(s, "sg");
        return sub switch
        {
            "list" => List(s),
            "add" => Many(s, "sg add", id => new Request { SgAdd = new MessageV0.Types.Sg { Id = id } }),
            "del" => Many(s, "sg del", id => new Request { SgDel = id }),
            "rule" => SgRuleCommands.Parse(s),
            "member" => Member(s),
            "help" => new UsageCommand("sg"),
            _ => throw Words.InvalidSubCommand(s, "sg", sub),
        };
    }

    private static ICliCommand List(ArgScanner s)
    {
        if (Words.WantsUsage(s, "sg list", out var usage))
            return usage;
        s.End();
        return new RunCommand(ctx =>
        {
            var reply = ctx.Api.Call(Requests.Of(new Request { SgList = true }));
            if (reply is null)
                return 1;
            foreach (var id in Requests.Response(reply).SgList)
                ctx.Out.WriteLine(id);
            return 0;
        });
    }

    /// <summary>One request message per SG, all in one exchange, like the original client.</summary>
    private static ICliCommand Many(ArgScanner s, string path, Func<string, Request> make)
    {
        if (Words.WantsUsage(s, path, out var usage))
            return usage;
        var ids = Words.Positionals(s, "SG", 1);
        var requests = ids.Select(make).ToList();
        return new RunCommand(ctx => ctx.Api.Call(Requests.Of(requests, null)) is null ? 1 : 0);
    }

    private static ICliCommand Member(ArgScanner s)
    {
        var sub = Words.SubCommand(s, "sg member");
        switch (sub)
        {
            case "list":
                if (Words.WantsUsage(s, "sg member list", out var listUsage))
                    return listUsage;
                var sg = s.Required("SG");
                s.End();
                return new RunCommand(ctx =>
                {
                    var reply = ctx.Api.Call(Requests.Of(new Request { SgMemberList = sg }));
                    if (reply is null)
                        return 1;
                    foreach (var member in Requests.Response(reply).SgMemberList)
                        ctx.Out.WriteLine(member);
                    return 0;
                });
            case "add" or "del":
                if (Words.WantsUsage(s, "sg member " + sub, out var usage))
                    return usage;
                var group = s.Required("SG");
                var ip = s.Required("IP");
                s.End();
                var request = sub == "add"
                    ? new Request { SgMemberAdd = new MessageV0.Types.SgMemberAddReq { SgId = group, Member = ip } }
                    : new Request { SgMemberDel = new MessageV0.Types.SgMemberDelReq { SgId = group, Member = ip } };
                return new RunCommand(ctx => ctx.Api.Call(Requests.Of(request)) is null ? 1 : 0);
            case "help":
                return new UsageCommand("sg member");
            default:
                throw Words.InvalidSubCommand(s, "sg member", sub);
        }
    }
}
