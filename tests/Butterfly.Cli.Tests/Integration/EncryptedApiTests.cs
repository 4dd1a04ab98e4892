using System.Security.Cryptography;
using Butterfly.TestKit;

namespace Butterfly.Cli.Tests.Integration;

/// <summary>-k against a daemon that only accepts the legacy encrypted envelope.</summary>
[Trait("Category", "Integration")]
public class EncryptedApiTests
{
    [Fact]
    public async Task Key_opens_the_api_and_clear_requests_are_rejected()
    {
        var keyFile = Path.GetTempFileName();
        try
        {
            File.WriteAllText(keyFile, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");
            await using var daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { KeyFile = keyFile });

            var withKey = new CliRunner(daemon.Endpoint, keyFile);
            await withKey.Ok("sg", "add", "enc-g");
            Assert.Equal(["enc-g"], (await withKey.Ok("sg", "list")).Lines());
            Assert.Contains("Request is encrypted\n", await withKey.Ok("-v", "sg", "list"), StringComparison.Ordinal);

            var clear = await new CliRunner(daemon.Endpoint).RunAsync("sg", "list");
            Assert.Equal(1, clear.ExitCode);
            Assert.Contains("REJECTED", clear.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(keyFile);
        }
    }
}
