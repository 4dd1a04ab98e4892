using System.Text;
using Butterfly.Cli;
using Butterfly.Cli.Transport;

// Output is UTF-8 whatever the locale says: "sg rule list" prints "Ø" like the original.
var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
using var stdout = new StreamWriter(Console.OpenStandardOutput(), utf8) { AutoFlush = false, NewLine = "\n" };
using var stderr = new StreamWriter(Console.OpenStandardError(), utf8) { AutoFlush = true, NewLine = "\n" };
var code = CliApp.Run(args, stdout, stderr, target => new ZmqApiTransport(target), TimeProvider.System);
try
{
    stdout.Flush();
}
catch (IOException)
{
    // stdout closed early (e.g. piped into head): nothing left to tell anyone.
}
// NetMQ's shared context has background threads; release them without waiting for peers.
NetMQ.NetMQConfig.Cleanup(block: false);
return code;
