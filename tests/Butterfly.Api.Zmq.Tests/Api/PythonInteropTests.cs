using System.Diagnostics;
using Butterfly.TestKit;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// libzmq interoperability: Debian's python3-zmq (libzmq 4.3) REQ socket drives the daemon
/// with protobuf bytes built by hand, independently of the C# generated code.
/// </summary>
public class PythonInteropTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    private const string Script = """
        import sys, zmq

        def varint(n):
            out = bytearray()
            while True:
                b = n & 0x7f
                n >>= 7
                out.append(b | (0x80 if n else 0))
                if not n:
                    return bytes(out)

        def field(number, wire_type, payload):
            tag = varint((number << 3) | wire_type)
            if wire_type == 2:
                return tag + varint(len(payload)) + payload
            return tag + payload

        def message(request, message_id):
            v0 = field(1, 2, request) + field(3, 2, message_id.encode())
            return field(1, 2, field(1, 0, varint(6)) + field(3, 2, v0))

        def read_fields(data):
            i, out = 0, []
            while i < len(data):
                key, i = read_varint(data, i)
                number, wire_type = key >> 3, key & 7
                if wire_type == 0:
                    value, i = read_varint(data, i)
                elif wire_type == 2:
                    length, i = read_varint(data, i)
                    value, i = data[i:i + length], i + length
                else:
                    raise ValueError("unexpected wire type %d" % wire_type)
                out.append((number, value))
            return out

        def read_varint(data, i):
            shift = value = 0
            while True:
                b = data[i]
                i += 1
                value |= (b & 0x7f) << shift
                shift += 7
                if not b & 0x80:
                    return value, i

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
        var scriptPath = Path.Combine(fixture.Daemon.WorkDir, "client.py");
        await File.WriteAllTextAsync(scriptPath, Script);
        var info = new ProcessStartInfo("/usr/bin/python3", [scriptPath, fixture.Daemon.Endpoint, sg])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };

        using var python = Process.Start(info)!;
        var stdout = await python.StandardOutput.ReadToEndAsync();
        var stderr = await python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync();

        Assert.True(python.ExitCode == 0, $"python failed:\n{stderr}\n{fixture.Daemon.Tail()}");
        Assert.Equal(["py-1 1", "py-2 1", "parse_error 0"], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(sg, fixture.Client.Call(Requests.SgList()).SgList);
    }
}
