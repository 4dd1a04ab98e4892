using Butterfly.TestKit;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// libzmq interoperability: Debian's python3-zmq (libzmq 4.3) REQ socket drives the daemon
/// with protobuf bytes built by hand, independently of the C# generated code.
/// </summary>
public class PythonInteropTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    // After PythonWire.Codec.
    private const string Script = """
        import sys, zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.RCVTIMEO, 20000)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(sys.argv[1])

        # nic_list (field 4, bool) then sg_add (field 8, Sg{id}) in one Messages.
        sg_add = field(8, 2, field(1, 2, sys.argv[2].encode()))
        sock.send(message(field(4, 0, varint(1)), "py-1") + message(sg_add, "py-2"))
        replies = [dict(read_fields(v))[3] for n, v in read_fields(sock.recv()) if n == 1]
        for reply in replies:
            v0 = dict(read_fields(reply))
            status = dict(read_fields(dict(read_fields(v0[2]))[1]))
            print(v0[3].decode(), status[1])

        sock.send(b"\xff\xff")
        bad = dict(read_fields(read_fields(sock.recv())[0][1]))
        print("parse_error", dict(read_fields(bad[2])).get(1, 0))
        """;

    [Fact]
    public async Task A_libzmq_req_client_is_served()
    {
        var sg = Ids.New("py");
        var (exitCode, stdout, stderr) = await PythonWire.RunAsync(Path.Combine(fixture.Daemon.WorkDir, "client.py"), Script, fixture.Daemon.Endpoint, sg);

        Assert.True(exitCode == 0, $"python failed:\n{stderr}\n{fixture.Daemon.Tail()}");
        Assert.Equal(["py-1 1", "py-2 1", "parse_error 0"], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(sg, fixture.Client.Call(Requests.SgList()).SgList);
    }
}
