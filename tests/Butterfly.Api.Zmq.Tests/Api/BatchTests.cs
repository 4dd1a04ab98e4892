using Butterfly.TestKit;
using Butterfly.Wire;
using Google.Protobuf;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Api;

public class BatchTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private readonly ApiClient _api = fixture.Client;

    [Fact]
    public void Several_messages_get_one_reply_each_in_order_and_later_ones_see_earlier_writes()
    {
        var nic = Ids.New("n");
        var sg = Ids.New("sg");

        var replies = _api.SendBatch(
        [
            Requests.SgAdd(sg),
            Requests.NicAdd(nic, sgs: [sg]),
            Requests.NicDetails(nic),
            Requests.NicDetails("missing"),
            Requests.SgMemberAdd(sg, "10.0.0.9"),
            Requests.SgMemberList(sg),
        ]);

        Assert.Equal(6, replies.Count);
        ApiAssert.Ok(replies[0].Response);
        Assert.EndsWith(nic, ApiAssert.Ok(replies[1].Response).NicAdd.Path, StringComparison.Ordinal);
        Assert.Equal([sg], Assert.Single(ApiAssert.Ok(replies[2].Response).NicDetails).SecurityGroup);
        ApiAssert.Fails(replies[3].Response, "missing");
        ApiAssert.Ok(replies[4].Response);
        Assert.Equal(["10.0.0.9"], ApiAssert.Ok(replies[5].Response).SgMemberList);
    }

    [Fact]
    public void A_failing_message_does_not_stop_the_ones_after_it()
    {
        var good = Ids.New("sg");

        var replies = _api.SendBatch([Requests.NicAdd(Ids.New("n"), "bad-mac"), Requests.SgAdd(good)]);

        ApiAssert.Fails(replies[0].Response, "bad-mac");
        ApiAssert.Ok(replies[1].Response);
        Assert.Contains(good, _api.Call(Requests.SgList()).SgList);
    }

    [Fact]
    public void A_thousand_messages_in_one_request_are_all_answered_and_the_nics_stored()
    {
        // 500 nic_add, each followed by its nic_details: a thousand messages, and below the
        // data path's 511 vhost-user NICs (the cap has its own tests).
        const int Nics = 500;
        var prefix = Ids.New("k");
        var ids = Enumerable.Range(0, Nics).Select(i => $"{prefix}{i:d4}").ToList();
        var requests = ids
            .SelectMany((id, i) => new[]
            {
                Requests.NicAdd(Requests.Nic(id, $"52:54:00:00:{i / 256:x2}:{i % 256:x2}", (uint)(i + 1), [$"10.{i / 256}.{i % 256}.1"])),
                Requests.NicDetails(id),
            })
            .ToList();

        try
        {
            var replies = _api.SendBatch(requests);

            Assert.Equal(2 * Nics, replies.Count);
            Assert.All(replies, r => ApiAssert.Ok(r.Response));
            for (var i = 0; i < Nics; i++)
            {
                Assert.Equal((uint)(i + 1), Assert.Single(replies[(2 * i) + 1].Response.NicDetails).Vni);
            }

            var listed = _api.Call(Requests.NicList()).NicList.Where(id => id.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            Assert.Equal(ids, listed);
        }
        finally
        {
            // Clean up in one batch too, so the other tests of this class see few NICs.
            _api.SendBatch(ids.Select(Requests.NicDel));
        }
    }

    [Fact]
    public async Task Concurrent_clients_are_all_answered_and_their_writes_all_stored()
    {
        const int Clients = 8;
        const int PerClient = 25;
        var prefix = Ids.New("c");

        var tasks = Enumerable.Range(0, Clients).Select(c => Task.Run(() =>
        {
            using var client = fixture.Daemon.CreateClient();
            for (var i = 0; i < PerClient; i++)
            {
                ApiAssert.Ok(client.Call(Requests.SgMemberAdd($"{prefix}-{c}", $"10.{c}.0.{i + 1}"), $"{c}/{i}"));
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(2));

        for (var c = 0; c < Clients; c++)
        {
            Assert.Equal(PerClient, _api.Call(Requests.SgMemberList($"{prefix}-{c}")).SgMemberList.Count);
        }
    }

    [Fact]
    public void Messages_without_message_0_get_version_not_managed_in_place()
    {
        var request = Requests.Batch([Requests.NicList(), Requests.SgList()]);
        request.Messages_.Insert(1, new Message { Revision = 6 });

        var reply = _api.Send(request);

        Assert.Equal(3, reply.Messages_.Count);
        ApiAssert.Ok(reply.Messages_[0].Message0.Response);
        Assert.Null(reply.Messages_[1].Message0);
        Assert.Equal(Error.Types.Code.VersionNotManaged, reply.Messages_[1].Error.Code);
        Assert.Equal(6u, reply.Messages_[1].Revision);
        ApiAssert.Ok(reply.Messages_[2].Message0.Response);
    }

    [Fact]
    public void Unknown_fields_from_a_newer_client_are_ignored()
    {
        var request = Requests.Batch([Requests.SgList()]);
        var bytes = request.ToByteArray();
        // Append field 99 (length-delimited) to the Message: a future revision's optional field.
        var message = request.Messages_[0].ToByteArray();
        byte[] unknown = [0x9a, 0x06, 0x03, (byte)'a', (byte)'b', (byte)'c'];
        byte[] patched = [0x0a, (byte)(message.Length + unknown.Length), .. message, .. unknown];
        Assert.NotEqual(bytes, patched);

        var reply = Messages.Parser.ParseFrom(_api.SendRaw(patched));

        ApiAssert.Ok(Assert.Single(reply.Messages_).Message0.Response);
    }

    [Fact]
    public void Nic_update_ip_semantics_hold_within_one_batch()
    {
        var id = Ids.New("n");

        var replies = _api.SendBatch(
        [
            Requests.NicAdd(id, ips: ["10.0.0.1"]),
            Requests.NicUpdate(new V0.NicUpdateReq { Id = id, Ip = { "10.0.0.2" } }),
            Requests.NicDetails(id),
        ]);

        Assert.Equal(["10.0.0.2"], Assert.Single(ApiAssert.Ok(replies[2].Response).NicDetails).Ip);
    }
}
