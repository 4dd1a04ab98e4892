using System.Runtime.Versioning;
using Butterfly.TestKit;

namespace Butterfly.Cli.Tests.Integration;

/// <summary>
/// The CLI against a daemon with CURVE on: keys made by <c>butterfly keygen</c>, -K with
/// --server-key serves, events record the CLI's key, and a CLI without keys (or with a key the
/// daemon does not list) gets no answer.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CurveApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bft-cli-curve-").FullName;
    private DaemonProcess _daemon = null!;
    private CurveKeyPair _server = null!;
    private string _operatorPublic = "";

    private string Allowed => Path.Combine(_dir, "allowed");

    public async Task InitializeAsync()
    {
        _server = CurveKeyPair.Create(_dir, "server");
        // The operator's keys come from the CLI itself.
        var keygen = await new CliRunner().Ok("keygen", Path.Combine(_dir, "operator"));
        _operatorPublic = keygen.Trim();
        Directory.CreateDirectory(Allowed);
        File.Copy(Path.Combine(_dir, "operator.key"), Path.Combine(Allowed, "operator.key"));
        // The start-up check uses keys of its own, listed too.
        var probe = CurveKeyPair.Create(Path.Combine(_dir, "probe"), "probe");
        File.Copy(probe.PublicFile, Path.Combine(Allowed, "probe.key"));
        _daemon = await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            ExtraArgs = ["--curve-key", _server.SecretFile, "--curve-allow", Allowed],
            Curve = new CurveClientKeys(_server.PublicKey, probe),
        });
    }

    public Task DisposeAsync()
    {
        _daemon.Dispose();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    [SupportedOSPlatform("linux")]
    public void Keygen_writes_a_public_certificate_and_a_secret_one_readable_by_its_owner_only()
    {
        Assert.Matches("^[0-9A-Za-z.:+=^!/*?&<>()\\[\\]{}@%$#-]{40}$", _operatorPublic);
        Assert.Contains($"public-key = \"{_operatorPublic}\"", File.ReadAllText(Path.Combine(_dir, "operator.key")), StringComparison.Ordinal);
        Assert.DoesNotContain("secret-key", File.ReadAllText(Path.Combine(_dir, "operator.key")), StringComparison.Ordinal);
        Assert.Contains("secret-key = \"", File.ReadAllText(Path.Combine(_dir, "operator.key_secret")), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "operator.key_secret")));
    }

    [Fact]
    public async Task Keygen_never_overwrites_a_key()
    {
        var again = await new CliRunner().RunAsync("keygen", Path.Combine(_dir, "operator"));
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("exists", again.StandardError, StringComparison.Ordinal);
        Assert.Contains(_operatorPublic, File.ReadAllText(Path.Combine(_dir, "operator.key")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_CLI_with_its_key_and_the_server_key_is_served_and_recorded()
    {
        var cli = new CliRunner(_daemon.Endpoint);
        string[] keys = ["-K", Path.Combine(_dir, "operator.key_secret"), "--server-key", _server.PublicFile];
        await cli.Ok([.. keys, "sg", "add", "curve-g"]);
        Assert.Equal(["curve-g"], (await cli.Ok([.. keys, "sg", "list"])).Lines());

        var events = await cli.Ok([.. keys, "events", "--sg", "curve-g"]);
        Assert.Contains($"cause=sg_add address=127.0.0.1 key={_operatorPublic}", events, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_CLI_without_keys_or_with_an_unlisted_key_gets_no_answer()
    {
        var cli = new CliRunner(_daemon.Endpoint);
        var clear = await cli.RunAsync("-t", "2000", "sg", "add", "clear-g");
        Assert.NotEqual(0, clear.ExitCode);

        await new CliRunner().Ok("keygen", Path.Combine(_dir, "stranger"));
        var stranger = await cli.RunAsync("-t", "2000", "-K", Path.Combine(_dir, "stranger.key_secret"), "--server-key", _server.PublicFile,
            "sg", "add", "stranger-g");
        Assert.NotEqual(0, stranger.ExitCode);

        string[] keys = ["-K", Path.Combine(_dir, "operator.key_secret"), "--server-key", _server.PublicFile];
        Assert.DoesNotContain("clear-g", await cli.Ok([.. keys, "sg", "list"]), StringComparison.Ordinal);
        Assert.DoesNotContain("stranger-g", await cli.Ok([.. keys, "sg", "list"]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_without_the_server_key_is_refused_by_the_CLI_with_the_reason()
    {
        var result = await new CliRunner(_daemon.Endpoint).RunAsync("-K", Path.Combine(_dir, "operator.key_secret"), "sg", "list");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--server-key", result.StandardError, StringComparison.Ordinal);
    }
}
