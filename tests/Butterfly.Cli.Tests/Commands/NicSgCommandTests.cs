using Butterfly.Cli.Tests.Support;
using Butterfly.Wire;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.Commands;

/// <summary>nic sg commands read the NIC's groups with nic_details and write them with nic_update.</summary>
public class NicSgCommandTests
{
    private static Func<Messages, Messages> NicWith(params string[] groups) => Client.Ok((req, res) =>
    {
        if (req.HasNicDetails)
            res.NicDetails.Add(new Nic { Id = req.NicDetails, Mac = "m", Vni = 1, SecurityGroup = { groups } });
    });

    private static NicUpdateReq? Update(CliResult r) => r.Sent.LastOrDefault(s => s.NicUpdate is not null)?.NicUpdate;

    [Fact]
    public void List_prints_the_groups()
    {
        var r = Client.Run(NicWith("a", "b"), "nic", "sg", "list", "n");
        Assert.Equal("a\nb\n", r.Out);
    }

    [Fact]
    public void Add_appends_new_groups_keeping_order()
    {
        var r = Client.Run(NicWith("z", "a"), "nic", "sg", "add", "n", "a", "m", "m");
        Assert.Equal(0, r.Code);
        Assert.Equal(["z", "a", "m"], Update(r)!.SecurityGroup);
        Assert.Equal("n", Update(r)!.Id);
    }

    [Fact]
    public void Add_of_present_groups_sends_no_update()
    {
        var r = Client.Run(NicWith("a"), "nic", "sg", "add", "n", "a");
        Assert.Equal(0, r.Code);
        Assert.Null(Update(r));
    }

    [Fact]
    public void Del_removes_groups()
    {
        var r = Client.Run(NicWith("a", "b", "c"), "nic", "sg", "del", "n", "b", "x");
        Assert.Equal(["a", "c"], Update(r)!.SecurityGroup);
    }

    [Fact]
    public void Del_of_the_last_group_sends_a_single_empty_string()
    {
        var r = Client.Run(NicWith("a"), "nic", "sg", "del", "n", "a");
        Assert.Equal(0, r.Code);
        Assert.Equal([""], Update(r)!.SecurityGroup);
    }

    [Fact]
    public void Set_replaces_or_clears_the_list()
    {
        Assert.Equal(["x", "y"], Update(Client.Run("nic", "sg", "set", "n", "x", "y"))!.SecurityGroup);
        Assert.Equal([""], Update(Client.Run("nic", "sg", "set", "n"))!.SecurityGroup);
    }

    [Fact]
    public void Unknown_nic_reports_the_daemon_error()
    {
        var r = Client.Run(Client.Fail("nic n not found"), "nic", "sg", "add", "n", "a");
        Assert.Equal(1, r.Code);
        Assert.Equal("error in response\ndescription: nic n not found\n", r.Err);
        Assert.Single(r.Requests);
    }
}
