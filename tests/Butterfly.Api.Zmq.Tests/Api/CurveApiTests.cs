using System.Diagnostics;
using System.Globalization;
using Butterfly.TestKit;
using Butterfly.Wire;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>
/// A daemon with CURVE on the API (--curve-key, --curve-allow as a directory of certificates),
/// shared by the tests of <see cref="CurveApiTests"/>; each test makes the client keys it needs.
/// </summary>
public sealed class CurveDaemonFixture : IAsyncLifetime
{
    public string KeyDir { get; } = Directory.CreateTempSubdirectory("bft-curve-").FullName;

    public string AllowDir => Path.Combine(KeyDir, "allowed");

    public CurveKeyPair Server { get; private set; } = null!;

    /// <summary>A client whose key is in the allow-list from the start.</summary>
    public CurveKeyPair Listed { get; private set; } = null!;

    public DaemonProcess Daemon { get; private set; } = null!;

    public ApiClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = CurveKeyPair.Create(KeyDir, "server");
        Listed = CurveKeyPair.Create(Path.Combine(KeyDir, "clients"), "listed");
        Directory.CreateDirectory(AllowDir);
        File.Copy(Listed.PublicFile, Path.Combine(AllowDir, "listed.key"));
        // A secret certificate in the directory is skipped, never read as a key.
        File.Copy(Listed.SecretFile, Path.Combine(AllowDir, "listed.key_secret"));
        Daemon = await DaemonProcess.StartAsync(new DaemonStartOptions
        {
            ExtraArgs = ["--curve-key", Server.SecretFile, "--curve-allow", AllowDir],
            Curve = new CurveClientKeys(Server.PublicKey, Listed),
        });
        Client = Daemon.CreateClient(TimeSpan.FromSeconds(30));
    }

    /// <summary>A CURVE client of the daemon with the given key pair.</summary>
    public ApiClient ClientWith(CurveKeyPair pair, TimeSpan timeout) => new(Daemon.Endpoint, timeout, curve: new CurveClientKeys(Server.PublicKey, pair));

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Daemon.DisposeAsync();
        Directory.Delete(KeyDir, recursive: true);
    }
}

/// <summary>
/// CURVE on the API: a listed client key is served and recorded with its events; an unlisted key
/// and a clear client get no answer at all (the handshake never completes) and change nothing; the
/// allow-list is read again on SIGHUP; pyzmq (libzmq) interoperates as a CURVE client, reading the
/// certificates as written.
/// </summary>
public class CurveApiTests(CurveDaemonFixture fixture) : IClassFixture<CurveDaemonFixture>
{
    /// <summary>How long a refused client waits for the answer that does not come.</summary>
    private static readonly TimeSpan RefusedWait = TimeSpan.FromSeconds(3);

    private List<string> SgIds() => [.. ApiAssert.Ok(fixture.Client.Call(Requests.SgList())).SgList];

    private V0.Event LastEventOf(string sg) =>
        ApiAssert.Ok(fixture.Client.Call(Requests.EventList(new V0.EventListReq { SgId = sg }))).EventList.Event[^1];

    [Fact]
    public void A_listed_key_is_served_and_its_events_record_the_key_the_peer_address_and_the_request()
    {
        var sg = Ids.New("cv");
        ApiAssert.Ok(fixture.Client.Call(Requests.SgAdd(sg), "curve-1"));

        Assert.Contains(sg, SgIds());
        var e = LastEventOf(sg);
        Assert.Equal(fixture.Listed.PublicZ85, e.ClientKey);
        Assert.Equal("127.0.0.1", e.PeerAddress);
        Assert.Equal("sg_add", e.Cause);
        Assert.Equal("curve-1", e.MessageId);
    }

    [Fact]
    public void An_unlisted_key_is_refused_and_changes_nothing()
    {
        var stranger = CurveKeyPair.Create(Path.Combine(fixture.KeyDir, "strangers"), Ids.New("st"));
        var sg = Ids.New("un");
        using (var client = fixture.ClientWith(stranger, RefusedWait))
        {
            Assert.Throws<TimeoutException>(() => client.Call(Requests.SgAdd(sg)));
        }

        Assert.DoesNotContain(sg, SgIds());
        Assert.Contains($"CURVE client {stranger.PublicZ85} from 127.0.0.1 refused: its key is not in the allow-list", fixture.Daemon.StandardError,
            StringComparison.Ordinal);
    }

    [Fact]
    public void A_clear_client_is_refused_and_changes_nothing()
    {
        var sg = Ids.New("cl");
        using (var clear = new ApiClient(fixture.Daemon.Endpoint, RefusedWait))
        {
            Assert.Throws<TimeoutException>(() => clear.Call(Requests.SgAdd(sg)));
        }

        Assert.DoesNotContain(sg, SgIds());
        Assert.False(fixture.Daemon.HasExited);
    }

    [Fact]
    public void A_client_with_the_wrong_server_key_is_refused()
    {
        var impostor = CurveKeyPair.Create(Path.Combine(fixture.KeyDir, "impostor"), Ids.New("im"));
        var sg = Ids.New("ws");
        using (var client = new ApiClient(fixture.Daemon.Endpoint, RefusedWait, curve: new CurveClientKeys(impostor.PublicKey, fixture.Listed)))
        {
            Assert.Throws<TimeoutException>(() => client.Call(Requests.SgAdd(sg)));
        }

        Assert.DoesNotContain(sg, SgIds());
    }

    [Fact]
    public async Task A_key_added_to_the_allow_list_is_let_in_after_SIGHUP()
    {
        var newcomer = CurveKeyPair.Create(Path.Combine(fixture.KeyDir, "newcomers"), Ids.New("nc"));
        var refusedSg = Ids.New("rf");
        using (var early = fixture.ClientWith(newcomer, RefusedWait))
        {
            Assert.Throws<TimeoutException>(() => early.Call(Requests.SgAdd(refusedSg)));
        }

        File.Copy(newcomer.PublicFile, Path.Combine(fixture.AllowDir, Path.GetFileName(newcomer.PublicFile)));
        var reloads = Occurrences(fixture.Daemon.StandardError, "allowed CURVE client keys loaded from");
        await SignalAsync(fixture.Daemon.Pid, "HUP");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Occurrences(fixture.Daemon.StandardError, "allowed CURVE client keys loaded from") == reloads)
        {
            Assert.False(fixture.Daemon.HasExited, fixture.Daemon.Tail());
            Assert.True(DateTime.UtcNow < deadline, "SIGHUP did not reload the allow-list:\n" + fixture.Daemon.Tail());
            await Task.Delay(50);
        }

        var sg = Ids.New("ok");
        using (var late = fixture.ClientWith(newcomer, TimeSpan.FromSeconds(30)))
        {
            ApiAssert.Ok(late.Call(Requests.SgAdd(sg)));
        }

        Assert.Equal(newcomer.PublicZ85, LastEventOf(sg).ClientKey);
        Assert.DoesNotContain(refusedSg, SgIds());
    }

    [Fact]
    public void A_restore_records_the_restore_request_as_the_cause_of_its_events()
    {
        var kept = Ids.New("rk");
        var dropped = Ids.New("rd");
        ApiAssert.Ok(fixture.Client.Call(Requests.SgAdd(kept)));
        var target = LastEventOf(kept).Sequence;
        ApiAssert.Ok(fixture.Client.Call(Requests.SgAdd(dropped)));

        ApiAssert.Ok(fixture.Client.Call(Requests.RestoreTo(target), "restore-1"));

        Assert.DoesNotContain(dropped, SgIds());
        var removal = LastEventOf(dropped);
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"restore_to {target}"), removal.Cause);
        Assert.Equal("restore-1", removal.MessageId);
        Assert.Equal(fixture.Listed.PublicZ85, removal.ClientKey);
        Assert.Equal("127.0.0.1", removal.PeerAddress);
    }

    // After PythonWire.Codec.
    private const string PythonClient = """
        import sys, zmq, zmq.auth

        endpoint, server_public, client_secret, sg = sys.argv[1:5]
        server_key, _ = zmq.auth.load_certificate(server_public)
        client_public, client_secret = zmq.auth.load_certificate(client_secret)
        ctx = zmq.Context()
        sock = ctx.socket(zmq.REQ)
        sock.curve_serverkey = server_key
        sock.curve_publickey = client_public
        sock.curve_secretkey = client_secret
        sock.setsockopt(zmq.RCVTIMEO, int(sys.argv[5]))
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        # sg_add (field 8, Sg{id}) with message_id "py-curve".
        sock.send(message(field(8, 2, field(1, 2, sg.encode())), "py-curve"))
        try:
            reply = sock.recv()
        except zmq.Again:
            print("no answer")
            sys.exit(0)
        v0 = dict(read_fields(dict(read_fields(read_fields(reply)[0][1]))[3]))
        status = dict(read_fields(dict(read_fields(v0[2]))[1]))
        print(v0[3].decode(), status[1])
        """;

    private async Task<string> RunPythonAsync(CurveKeyPair client, string sg, int receiveTimeoutMs)
    {
        var (exitCode, stdout, stderr) = await PythonWire.RunAsync(Path.Combine(fixture.KeyDir, "curve_client.py"), PythonClient,
            fixture.Daemon.Endpoint, fixture.Server.PublicFile, client.SecretFile, sg, receiveTimeoutMs.ToString(CultureInfo.InvariantCulture));
        Assert.True(exitCode == 0, $"python failed:\n{stderr}\n{fixture.Daemon.Tail()}");
        return stdout.Trim();
    }

    [Fact]
    public async Task Pyzmq_is_a_CURVE_client_with_certificates_as_written_and_an_unlisted_pyzmq_key_is_refused()
    {
        var sg = Ids.New("py");
        Assert.Equal("py-curve 1", await RunPythonAsync(fixture.Listed, sg, 30_000));
        Assert.Contains(sg, SgIds());
        Assert.Equal(fixture.Listed.PublicZ85, LastEventOf(sg).ClientKey);

        var stranger = CurveKeyPair.Create(Path.Combine(fixture.KeyDir, "py-strangers"), Ids.New("ps"));
        var refused = Ids.New("pr");
        Assert.Equal("no answer", await RunPythonAsync(stranger, refused, (int)RefusedWait.TotalMilliseconds));
        Assert.DoesNotContain(refused, SgIds());
    }

    private static int Occurrences(string text, string fragment)
    {
        var count = 0;
        for (var i = text.IndexOf(fragment, StringComparison.Ordinal); i >= 0; i = text.IndexOf(fragment, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}

/// <summary>A clear API (no CURVE): events still record the TCP peer's address and the request, and no key.</summary>
public class ClearApiAuditTests(DaemonFixture fixture) : IClassFixture<DaemonFixture>
{
    [Fact]
    public void Events_of_a_clear_client_record_its_address_and_the_request_but_no_key()
    {
        var sg = Ids.New("ca");
        ApiAssert.Ok(fixture.Client.Call(Requests.SgAdd(sg)));

        var e = Assert.Single(ApiAssert.Ok(fixture.Client.Call(Requests.EventList(new V0.EventListReq { SgId = sg }))).EventList.Event);
        Assert.Equal("127.0.0.1", e.PeerAddress);
        Assert.Equal("sg_add", e.Cause);
        Assert.False(e.HasClientKey);
    }
}
