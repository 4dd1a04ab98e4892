using Butterfly.Cli.Commands;
using Butterfly.Cli.Tests.Support;
using Butterfly.Cli.Tests.TextFormat;
using Butterfly.Cli.TextFormat;
using Butterfly.Wire;
using Google.Protobuf;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests.Commands;

/// <summary>status, shutdown, request, dump, help, version, chaining and global options.</summary>
public class AppCommandTests
{
    [Fact]
    public void Status_prints_the_original_lines()
    {
        var r = Client.Run(Client.Ok((_, res) => res.AppStatus = new AppStatusRes { StartDate = 1, CurrentDate = 2, RequestCounter = 3, GraphDot = "digraph {}" }), "status");
        Assert.Equal("start date: 1\ncurrent date: 2\nrequest counter: 3\ndot graph: \ndigraph {}\n", r.Out);
        Assert.True(r.Sent.Single().AppStatus);
    }

    [Fact]
    public void Status_names_the_nics_whose_port_does_not_work_before_the_graph()
    {
        var status = new AppStatusRes
        {
            StartDate = 1,
            CurrentDate = 2,
            RequestCounter = 3,
            GraphDot = "digraph {}",
            DataPathError = "data path is gone",
            NicPortError = { new NicPortError { NicId = "a", Reason = "no socket" }, new NicPortError { NicId = "b", Reason = "MAC taken" } },
        };
        var r = Client.Run(Client.Ok((_, res) => res.AppStatus = status), "status");
        Assert.Equal(
            "start date: 1\ncurrent date: 2\nrequest counter: 3\ndata path error: data path is gone\nport error: a: no socket\nport error: b: MAC taken\ndot graph: \ndigraph {}\n",
            r.Out);
    }

    [Fact]
    public void Shutdown_sends_app_quit()
    {
        var r = Client.Run("shutdown");
        Assert.Equal(0, r.Code);
        Assert.True(r.Sent.Single().AppQuit);
    }

    [Fact]
    public void Error_code_replies_are_reported()
    {
        var r = Client.Run(_ => new Messages { Messages_ = { new Message { Revision = 6, Error = new Butterfly.Wire.Error { Code = Butterfly.Wire.Error.Types.Code.Rejected } } } }, "sg", "list");
        Assert.Equal(1, r.Code);
        Assert.Equal("error in response: REJECTED\n", r.Err);
    }

    [Fact]
    public void Empty_and_short_replies_are_errors()
    {
        Assert.Equal("error: no message detected in response\n", Client.Run(_ => new Messages(), "sg", "list").Err);
        var shortReply = Client.Run(req => { var m = Client.Ok()(req); m.Messages_.RemoveAt(1); return m; }, "sg", "del", "a", "b");
        Assert.Equal(1, shortReply.Code);
        Assert.Equal("error: 2 replies expected, 1 received\n", shortReply.Err);
    }

    [Fact]
    public void Chain_runs_in_order_and_stops_at_the_first_failure()
    {
        var r = Client.Run(req => req.Messages_[0].Message0.Request.SgAdd?.Id == "bad" ? Client.Fail("no")(req) : Client.Ok()(req),
            "sg", "add", "a", "+", "sg", "add", "bad", "+", "sg", "add", "c");
        Assert.Equal(1, r.Code);
        Assert.Equal(["a", "bad"], r.Sent.Select(s => s.SgAdd.Id));
        var ok = Client.Run("sg", "add", "a", "+", "nic", "del", "n", "+", "sg", "list");
        Assert.Equal(0, ok.Code);
        Assert.Equal(3, ok.Requests.Count);
    }

    [Fact]
    public void Global_options_work_anywhere_and_apply_to_the_whole_chain()
    {
        var endpoints = new List<string>();
        var stdout = new StringWriter { NewLine = "\n" };
        var code = CliApp.Run(["sg", "add", "a", "-t", "500", "+", "sg", "list", "--endpoint", "tcp://10.0.0.1:1"], stdout, new StringWriter(),
            t => { endpoints.Add(t.Endpoint); return new FakeTransport(Client.Ok()); }, TimeProvider.System);
        Assert.Equal(0, code);
        Assert.Equal(["tcp://10.0.0.1:1"], endpoints);
        var inline = CliApp.Run(["--endpoint=tcp://x:2", "sg", "list"], stdout, new StringWriter(),
            t => { endpoints.Add(t.Endpoint); return new FakeTransport(Client.Ok()); }, TimeProvider.System);
        Assert.Equal(0, inline);
        Assert.Equal("tcp://x:2", endpoints[^1]);
    }

    [Fact]
    public void Verbose_prints_request_and_reply_in_text_format()
    {
        var r = Client.Run("-v", "sg", "list");
        Assert.Equal(0, r.Code);
        Assert.Equal(
            "#########################\n# Message to be sent:\n" + TextFormatPrinter.Print(r.Requests[0]) + "\n#########################\n" +
            "Received clear response\n#########################\n# Received message:\n" + TextFormatPrinter.Print(Client.Ok()(r.Requests[0])) + "\n#########################\n",
            r.Out);
    }

    [Fact]
    public void Help_prints_usage_and_sends_nothing()
    {
        foreach (var line in new[] { "help", "-h", "nic help", "nic -h", "nic add help", "nic add --id x -h", "sg rule del help", "nic sg set help", "events --help", "sg member -h" })
        {
            var r = Client.Run(line.Split(' '));
            Assert.Equal(0, r.Code);
            Assert.Empty(r.Requests);
            Assert.Contains("global options", r.Out, StringComparison.Ordinal);
        }
        Assert.StartsWith("usage: butterfly nic add", Client.Run("nic", "add", "help").Out, StringComparison.Ordinal);
        Assert.StartsWith("first usage: butterfly sg rule del SG RULE_ID", Client.Run("sg", "rule", "del", "-h").Out, StringComparison.Ordinal);
        Assert.All(Usage.Paths, p => Assert.NotEmpty(Usage.For(p)));
    }

    [Fact]
    public void Version_wins_over_everything()
    {
        var r = Client.Run("nic", "bogus", "-V");
        Assert.Equal(0, r.Code);
        Assert.Matches("^butterfly version: \".+\" proto revision: \"6\" commit: \".+\" date: \".+\"\n$", r.Out);
    }

    [Fact]
    public void Request_sends_the_file_and_prints_the_reply_with_stdout()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "# two requests\nmessages { revision: 6 message_0 { request { sg_list: true } } }\nmessages { revision: 6 message_0 { request { nic_list: true } } }\n");
            var quiet = Client.Run("request", file);
            Assert.Equal(0, quiet.Code);
            Assert.Equal("", quiet.Out);
            Assert.Equal(2, quiet.Sent.Count);
            var loud = Client.Run(Client.Ok((_, res) => res.SgList.Add("g")), "request", file, "--stdout");
            Assert.Equal(TextFormatPrinter.Print(Client.Ok((_, res) => res.SgList.Add("g"))(loud.Requests[0])), loud.Out);

            var failed = Client.Run(Client.Fail("bad"), "request", "--stdout", file);
            Assert.Equal(1, failed.Code);
            Assert.Contains("status: false", failed.Out, StringComparison.Ordinal);
            Assert.Equal("error in response\ndescription: bad\n", failed.Err);

            File.WriteAllText(file, "messages {\n  revision: 6\n  bogus: 1\n}\n");
            var bad = Client.Run("request", file);
            Assert.Equal(1, bad.Code);
            Assert.Equal($"{file}:3:3: Message type \"proto.Message\" has no field named \"bogus\".\n", bad.Err);
            File.WriteAllText(file, "");
            Assert.Equal($"{file}: no message to send\n", Client.Run("request", file).Err);
        }
        finally
        {
            File.Delete(file);
        }
        var missing = Client.Run("request", "/nonexistent/file");
        Assert.Equal(1, missing.Code);
        Assert.StartsWith("failed to open /nonexistent/file: ", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public void Dump_prints_groups_then_nics_with_every_field()
    {
        var sg = new Sg { Id = "g", Member = { "10.0.0.1" }, Rule = { new Rule { Direction = Rule.Types.Direction.Inbound, Protocol = -1, SecurityGroup = "g" } } };
        var tap = new Nic { Id = "t", Mac = "52:54:00:00:00:01", Vni = 5, Ip = { "10.0.0.1" }, SecurityGroup = { "g" }, Type = Nic.Types.Type.Tap, Path = "t", IpAntiSpoof = true, BypassFiltering = false };
        var r = Client.Run(Client.Ok((req, res) =>
        {
            // A port error is the port's state, not configuration: the dump leaves it out.
            if (req.HasNicDetails)
                res.NicDetails.Add(new Nic(tap) { PortError = "no port left" });
            if (req.HasSgDetails)
                res.SgDetails.Add(sg);
        }), "dump");
        Assert.Equal(0, r.Code);
        Assert.Equal(["nics", "sgs"], r.Requests[0].Messages_.Select(m => m.Message0.MessageId));
        Assert.Equal(("", ""), (r.Sent[0].NicDetails, r.Sent[1].SgDetails));

        var expected = Samples.Wrap(new Request { SgAdd = sg });
        expected.Messages_.Add(Samples.Wrap(new Request { NicAdd = tap }).Messages_);
        Assert.Equal(TextFormatPrinter.Print(expected) + "\n", r.Out);
        Assert.Contains("type: TAP", r.Out, StringComparison.Ordinal);
        Assert.Equal(expected, (Messages)TextFormatParser.Parse<Messages>(r.Out).Message!);
    }

    [Fact]
    public void Encrypted_exchange_with_a_key()
    {
        var key = new byte[32];
        for (var i = 0; i < key.Length; i++)
            key[i] = (byte)i;
        var keyFile = Path.GetTempFileName();
        File.WriteAllText(keyFile, Convert.ToBase64String(key) + "\n");
        try
        {
            var r = Client.Run(req =>
            {
                Assert.Empty(req.Messages_);
                Assert.Equal(EnvelopeOpenStatus.Ok, LegacyEnvelope.TryOpen(req.Encrypted.Aes256CbcSha512.Span, key, out var clear));
                var reply = Client.Ok((_, res) => res.SgList.Add("secret"))(Messages.Parser.ParseFrom(clear));
                return new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(LegacyEnvelope.Seal(reply.ToByteArray(), key)) } };
            }, "sg", "list", "-k", keyFile);
            Assert.Equal(0, r.Code);
            Assert.Equal("secret\n", r.Out);

            var rejected = Client.Run(_ => new Messages { Encrypted = new Encrypted { Error = new Encrypted.Types.Error { Code = Encrypted.Types.Error.Types.Code.Rejected } } }, "sg", "list", "--key", keyFile);
            Assert.Equal(1, rejected.Code);
            Assert.Equal("Encrypted message error: REJECTED\n", rejected.Err);

            File.WriteAllText(keyFile, "not base64!");
            var badKey = Client.Run("sg", "list", "-k", keyFile);
            Assert.Equal(1, badKey.Code);
            Assert.StartsWith("cannot load encryption key: ", badKey.Err, StringComparison.Ordinal);
            Assert.Empty(badKey.Requests);
        }
        finally
        {
            File.Delete(keyFile);
        }
    }
}
