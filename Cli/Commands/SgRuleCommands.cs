using Butterfly.Cli.CommandLine;
using Butterfly.Cli.Rules;
using Butterfly.Wire;
using Request = Butterfly.Wire.MessageV0.Types.Request;

namespace Butterfly.Cli.Commands;

/// <summary>
/// <c>butterfly sg rule list|add|del</c>. Rules are shown with the original client's id
/// (<see cref="RuleId"/>); <c>del SG ID</c> looks the rule up by that id in sg_rule_list and
/// deletes exactly the rule the daemon returned.
/// </summary>
internal static class SgRuleCommands
{
    public static ICliCommand Parse(ArgScanner s)
    {
        var sub = Words.SubCommand(s, "sg rule");
        return sub switch
        {
            "list" => List(s),
            "add" => Add(s),
            "del" => Del(s),
            "help" => new UsageCommand("sg rule"),
            _ => throw Words.InvalidSubCommand(s, "sg rule", sub),
        };
    }

    private static ICliCommand List(ArgScanner s)
    {
        if (Words.WantsUsage(s, "sg rule list", out var usage))
            return usage;
        var sg = s.Required("SG");
        s.End();
        return new RunCommand(ctx =>
        {
            var rules = Fetch(ctx, sg);
            if (rules is null)
                return 1;
            foreach (var rule in rules)
                ctx.Out.WriteLine(RuleLine.Format(rule));
            return 0;
        });
    }

    private static ICliCommand Add(ArgScanner s)
    {
        if (Words.WantsUsage(s, "sg rule add", out var usage))
            return usage;
        var sg = s.Required("SG");
        var rule = RuleOptions.Parse(s);
        var request = new Request { SgRuleAdd = new MessageV0.Types.SgRuleAddReq { SgId = sg, Rule = rule } };
        return new RunCommand(ctx => ctx.Api.Call(Requests.Of(request)) is null ? 1 : 0);
    }

    private static ICliCommand Del(ArgScanner s)
    {
        if (Words.WantsUsage(s, "sg rule del", out var usage))
            return usage;
        var sg = s.Required("SG");
        var next = s.Peek();
        if (next is null)
            throw s.Error("missing RULE_ID or rule options");
        if (!next.StartsWith('-'))
        {
            var id = s.Required("RULE_ID").ToLowerInvariant();
            s.End();
            return new RunCommand(ctx => DeleteById(ctx, sg, id));
        }
        var rule = RuleOptions.Parse(s);
        var request = new Request { SgRuleDel = new MessageV0.Types.SgRuleDelReq { SgId = sg, Rule = rule } };
        return new RunCommand(ctx => ctx.Api.Call(Requests.Of(request)) is null ? 1 : 0);
    }

    private static int DeleteById(CliContext ctx, string sg, string id)
    {
        var rules = Fetch(ctx, sg);
        if (rules is null)
            return 1;
        var rule = rules.FirstOrDefault(r => RuleId.Of(r) == id);
        if (rule is null)
        {
            ctx.Err.WriteLine($"no rule found with id {id} in security group {sg}");
            return 1;
        }
        var request = new Request { SgRuleDel = new MessageV0.Types.SgRuleDelReq { SgId = sg, Rule = rule } };
        return ctx.Api.Call(Requests.Of(request)) is null ? 1 : 0;
    }

    private static IReadOnlyList<MessageV0.Types.Rule>? Fetch(CliContext ctx, string sg)
    {
        var reply = ctx.Api.Call(Requests.Of(new Request { SgRuleList = sg }));
        return reply is null ? null : Requests.Response(reply).SgRuleList;
    }
}
