using Butterfly.Cli.CommandLine;
using Butterfly.Wire;
using Request = Butterfly.Wire.MessageV0.Types.Request;

namespace Butterfly.Cli.Commands;

/// <summary>
/// <c>butterfly nic sg list|add|del|set</c>: read the NIC's groups with nic_details, write
/// the new list with nic_update. The list keeps its order. An empty list is sent as a
/// single "" (the protocol's "clear"), so removing the last group works, which it did not
/// in the original client.
/// </summary>
internal static class NicSgCommands
{
    public static ICliCommand Parse(ArgScanner s)
    {
        var sub = Words.SubCommand(s, "nic sg");
        return sub switch
        {
            "list" => List(s),
            "add" => Change(s, "nic sg add", (current, given) => current.Concat(given).Distinct(StringComparer.Ordinal).ToList()),
            "del" => Change(s, "nic sg del", (current, given) => current.Where(g => !given.Contains(g)).ToList()),
            "set" => Set(s),
            "help" => new UsageCommand("nic sg"),
            _ => throw Words.InvalidSubCommand(s, "nic sg", sub),
        };
    }

    private static ICliCommand List(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic sg list", out var usage))
            return usage;
        var nicId = s.Required("NIC");
        s.End();
        return new RunCommand(ctx =>
        {
            var nic = NicCommands.Fetch(ctx, nicId);
            if (nic is null)
                return 1;
            foreach (var sg in nic.SecurityGroup)
                ctx.Out.WriteLine(sg);
            return 0;
        });
    }

    private static ICliCommand Change(ArgScanner s, string path, Func<IReadOnlyList<string>, List<string>, List<string>> merge)
    {
        if (Words.WantsUsage(s, path, out var usage))
            return usage;
        var words = Words.Positionals(s, "NIC and SG", 2);
        var nicId = words[0];
        var given = words.Skip(1).ToList();
        return new RunCommand(ctx =>
        {
            var nic = NicCommands.Fetch(ctx, nicId);
            if (nic is null)
                return 1;
            var current = nic.SecurityGroup.ToList();
            var wanted = merge(current, given);
            if (wanted.SequenceEqual(current, StringComparer.Ordinal))
                return 0;
            return Update(ctx, nicId, wanted);
        });
    }

    private static ICliCommand Set(ArgScanner s)
    {
        if (Words.WantsUsage(s, "nic sg set", out var usage))
            return usage;
        var words = Words.Positionals(s, "NIC", 1);
        var nicId = words[0];
        var wanted = words.Skip(1).Distinct(StringComparer.Ordinal).ToList();
        return new RunCommand(ctx => Update(ctx, nicId, wanted));
    }

    private static int Update(CliContext ctx, string nicId, List<string> groups)
    {
        var update = new MessageV0.Types.NicUpdateReq { Id = nicId };
        if (groups.Count == 0)
            update.SecurityGroup.Add("");
        else
            update.SecurityGroup.AddRange(groups);
        return ctx.Api.Call(Requests.Of(new Request { NicUpdate = update })) is null ? 1 : 0;
    }
}
