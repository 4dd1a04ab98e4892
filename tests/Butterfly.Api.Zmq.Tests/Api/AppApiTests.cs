using Butterfly.TestKit;
using Butterfly.Wire;

namespace Butterfly.Api.Zmq.Tests.Api;

public class AppApiTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private readonly ApiClient _api = fixture.Client;

    [Fact]
    public void App_status_reports_dates_the_request_counter_and_the_graph()
    {
        var first = ApiAssert.Ok(_api.Call(Requests.AppStatus())).AppStatus;
        var second = ApiAssert.Ok(_api.Call(Requests.AppStatus())).AppStatus;

        var now = (ulong)DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.InRange(first.StartDate, now - 600, now);
        Assert.InRange(first.CurrentDate, first.StartDate, now + 1);
        Assert.Equal(first.StartDate, second.StartDate);
        Assert.Equal(first.RequestCounter + 1, second.RequestCounter);
        Assert.StartsWith("digraph", first.GraphDot, StringComparison.Ordinal);
    }

    [Fact]
    public void Replies_carry_revision_6_and_echo_each_message_id()
    {
        var request = Requests.Batch([Requests.AppStatus(), Requests.NicList(), Requests.SgList()]);
        request.Messages_[0].Message0.MessageId = "first";
        request.Messages_[2].Message0.MessageId = "third";
        request.Messages_[1].Revision = 99; // a request's revision is ignored

        var reply = _api.Send(request);

        Assert.All(reply.Messages_, m => Assert.Equal(6u, m.Revision));
        Assert.Equal("first", reply.Messages_[0].Message0.MessageId);
        Assert.False(reply.Messages_[1].Message0.HasMessageId);
        Assert.Equal("third", reply.Messages_[2].Message0.MessageId);
    }

    [Fact]
    public void App_config_changes_the_log_level_at_run_time()
    {
        ApiAssert.Ok(_api.Call(Requests.AppConfig("info")));
        var marker = Ids.New("marker");
        ApiAssert.Ok(_api.Call(Requests.NicList(), marker));
        ApiAssert.Ok(_api.Call(Requests.AppConfig("debug")));

        // At info the request dump (debug) is not logged; back at debug it is.
        Assert.DoesNotContain(marker, fixture.Daemon.StandardError, StringComparison.Ordinal);
        ApiAssert.Ok(_api.Call(Requests.NicList(), marker));
        Assert.Contains(marker, fixture.Daemon.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void App_config_refuses_unknown_levels_and_accepts_an_empty_config()
    {
        ApiAssert.Fails(_api.Call(Requests.AppConfig("loud")), "loud", "none, error, warning, info, debug");
        ApiAssert.Ok(_api.Call(new MessageV0.Types.Request { AppConfig = new MessageV0.Types.AppConfigReq() }));
    }

    [Fact]
    public void A_message_without_request_or_with_several_is_refused_with_a_description()
    {
        var request = new Messages
        {
            Messages_ =
            {
                new Message { Revision = 6, Message0 = new MessageV0 { MessageId = "none" } },
                new Message { Revision = 6, Message0 = new MessageV0 { Request = new MessageV0.Types.Request() } },
                new Message { Revision = 6, Message0 = new MessageV0 { Request = new MessageV0.Types.Request { NicList = true, SgList = true } } },
            },
        };

        var reply = _api.Send(request);

        Assert.Equal("none", reply.Messages_[0].Message0.MessageId);
        ApiAssert.Fails(reply.Messages_[0].Message0.Response, "no request");
        ApiAssert.Fails(reply.Messages_[1].Message0.Response, "no request set");
        ApiAssert.Fails(reply.Messages_[2].Message0.Response, "2 requests set (nic_list, sg_list)", "exactly one");
    }
}
