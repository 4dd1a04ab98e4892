using System.Diagnostics;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// python3 clients of the API that build and read its protobuf bytes by hand, independently of
/// the C# generated code: <see cref="Codec"/> is put in front of each script's own lines.
/// </summary>
internal static class PythonWire
{
    /// <summary>
    /// varint / field writers, message(request, message_id) for one Message of revision 6, and
    /// read_fields / read_varint, which read a message as (field number, value) pairs.
    /// </summary>
    public const string Codec = """
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

        """;

    /// <summary>
    /// Writes <see cref="Codec"/> and <paramref name="script"/> to <paramref name="path"/>, runs
    /// it with <paramref name="args"/> and returns its exit code, standard output and error.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string path, string script, params string[] args)
    {
        await File.WriteAllTextAsync(path, Codec + script);
        var info = new ProcessStartInfo("/usr/bin/python3", [path, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var python = Process.Start(info)!;
        var output = python.StandardOutput.ReadToEndAsync();
        var error = python.StandardError.ReadToEndAsync();
        await python.WaitForExitAsync();
        return (python.ExitCode, await output, await error);
    }
}
