using System.Diagnostics;
using Butterfly.Cli.Tests.Support;
using Butterfly.Cli.Transport;
using Butterfly.Wire;
using Google.Protobuf;
using NetMQ;
using NetMQ.Sockets;

namespace Butterfly.Cli.Tests.Transport;

/// <summary>The client over real ZeroMQ sockets: NetMQ and libzmq (pyzmq) REP peers.</summary>
public class ZmqTransportTests
{
    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static (int Code, string Out, string Err) RunCli(params string[] args)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = CliApp.Run(args, stdout, stderr, target => new ZmqApiTransport(target), TimeProvider.System);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Chained_commands_share_one_req_socket_to_a_netmq_rep()
    {
        var port = FreePort();
        using var rep = new ResponseSocket();
        rep.Bind($"tcp://127.0.0.1:{port}");
        var served = new List<Messages>();
        var server = Task.Run(() =>
        {
            for (var i = 0; i < 2; i++)
            {
                var request = Messages.Parser.ParseFrom(rep.ReceiveFrameBytes());
                served.Add(request);
                var reply = Client.Ok((_, res) => res.SgList.Add("g" + i))(request);
                rep.SendFrame(reply.ToByteArray());
            }
        });

        var r = RunCli("sg", "list", "+", "sg", "list", "-e", $"tcp://127.0.0.1:{port}", "-t", "5000");
        await server.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, r.Code);
        Assert.Equal("g0\ng1\n", r.Out);
        Assert.Equal(2, served.Count);
    }

    [Fact]
    public void Timeout_without_reply_fails_cleanly()
    {
        var port = FreePort();
        using var rep = new ResponseSocket();
        rep.Bind($"tcp://127.0.0.1:{port}");
        var watch = Stopwatch.StartNew();
        var r = RunCli("status", "-e", $"tcp://127.0.0.1:{port}", "-t", "300");
        Assert.Equal(1, r.Code);
        Assert.Equal($"error: no reply from tcp://127.0.0.1:{port} within 300 ms\n", r.Err);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Bad_endpoint_is_one_line_not_a_crash()
    {
        foreach (var endpoint in new[] { "nonsense", "tcp://", "tcp://host", "udp://1.2.3.4:5" })
        {
            var r = RunCli("status", "-e", endpoint, "-t", "100");
            Assert.Equal(1, r.Code);
            Assert.Equal($"error: invalid endpoint '{endpoint}' (expected e.g. tcp://127.0.0.1:9999)\n", r.Err);
        }
        var unresolvable = RunCli("status", "-e", "tcp://no.such.host.invalid:1", "-t", "100");
        Assert.Equal(1, unresolvable.Code);
        Assert.Equal(1, unresolvable.Err.Count(c => c == '\n'));
    }

    [Fact]
    public void Talks_to_a_libzmq_rep_socket()
    {
        var port = FreePort();
        var reply = Client.Ok((_, res) => res.NicList.Add("from-libzmq"))(NicListRequest()).ToByteArray();
        var script = $"""
            import sys, zmq
            ctx = zmq.Context()
            s = ctx.socket(zmq.REP)
            s.bind("tcp://127.0.0.1:{port}")
            print("ready", flush=True)
            req = s.recv()
            s.send(bytes.fromhex("{Convert.ToHexString(reply)}"))
            sys.stdout.write(req.hex() + "\n")
            s.close(linger=1000)
            ctx.term()
            """;
        var psi = new ProcessStartInfo("/usr/bin/python3", ["-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var python = Process.Start(psi)!;
        try
        {
            Assert.Equal("ready", python.StandardOutput.ReadLine());
            var r = RunCli("nic", "list", "-e", $"tcp://127.0.0.1:{port}", "-t", "5000");
            Assert.Equal(0, r.Code);
            Assert.Equal("from-libzmq\n", r.Out);
            var seen = Messages.Parser.ParseFrom(Convert.FromHexString(python.StandardOutput.ReadLine()!.Trim()));
            Assert.Equal(NicListRequest(), seen);
            Assert.True(python.WaitForExit(10000));
        }
        finally
        {
            if (!python.HasExited)
                python.Kill();
        }
    }

    private static Messages NicListRequest() =>
        new() { Messages_ = { new Message { Revision = 6, Message0 = new MessageV0 { Request = new MessageV0.Types.Request { NicList = true } } } } };
}
