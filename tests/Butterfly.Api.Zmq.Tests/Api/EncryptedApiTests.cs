using Butterfly.TestKit;
using Butterfly.Wire;
using Google.Protobuf;
using EncCode = Butterfly.Wire.Encrypted.Types.Error.Types.Code;

namespace Butterfly.Api.Zmq.Tests.Api;

/// <summary>A daemon started with -k: only the legacy encrypted envelope is served.</summary>
public sealed class EncryptedDaemonFixture : IAsyncLifetime
{
    public byte[] Key { get; } = [.. Enumerable.Range(0, 32).Select(i => (byte)(255 - i))];

    public string KeyFile { get; } = Path.Combine(Path.GetTempPath(), $"bft-key-{Guid.NewGuid():n}");

    public DaemonProcess Daemon { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(KeyFile, Convert.ToBase64String(Key) + "\n");
        Daemon = await DaemonProcess.StartAsync(new DaemonStartOptions { KeyFile = KeyFile });
    }

    public async Task DisposeAsync()
    {
        await Daemon.DisposeAsync();
        File.Delete(KeyFile);
    }
}

public class EncryptedApiTests(EncryptedDaemonFixture fixture) : IClassFixture<EncryptedDaemonFixture>
{
    [Fact]
    public void Encrypted_requests_are_served_end_to_end()
    {
        using var api = fixture.Daemon.CreateClient(key: fixture.Key);
        var id = Ids.New("sg");

        ApiAssert.Ok(api.Call(Requests.SgAdd(id, ["10.0.0.1"])));
        var reply = api.Send(Requests.Batch([Requests.SgMemberList(id), Requests.AppStatus()], "enc-1"));

        Assert.Equal(["10.0.0.1"], ApiAssert.Ok(reply.Messages_[0].Message0.Response).SgMemberList);
        Assert.Equal("enc-1", reply.Messages_[1].Message0.MessageId);
        Assert.All(reply.Messages_, m => Assert.Equal(6u, m.Revision));
    }

    [Fact]
    public void Clear_requests_are_rejected()
    {
        using var api = fixture.Daemon.CreateClient();

        var reply = api.Send(Requests.Batch([Requests.NicList()]));

        Assert.Equal(Error.Types.Code.Rejected, Assert.Single(reply.Messages_).Error.Code);
    }

    [Fact]
    public void A_missing_payload_is_not_supported()
    {
        using var api = fixture.Daemon.CreateClient();

        var reply = api.Send(new Messages { Encrypted = new Encrypted() });

        Assert.Equal(EncCode.NotSupported, reply.Encrypted.Error.Code);
    }

    [Fact]
    public void A_payload_under_another_key_or_tampered_is_rejected()
    {
        using var api = fixture.Daemon.CreateClient();
        var clear = Requests.Batch([Requests.NicList()]).ToByteArray();
        var tampered = LegacyEnvelope.Seal(clear, fixture.Key);
        tampered[^1] ^= 0x80;

        foreach (var payload in new[] { LegacyEnvelope.Seal(clear, new byte[32]), tampered, new byte[40] })
        {
            var reply = api.Send(new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(payload) } });
            Assert.Equal(EncCode.Rejected, reply.Encrypted.Error.Code);
        }

        using var good = fixture.Daemon.CreateClient(key: fixture.Key);
        ApiAssert.Ok(good.Call(Requests.AppStatus()));
    }

    [Fact]
    public void Garbage_inside_a_good_envelope_gets_an_encrypted_parse_error()
    {
        using var api = fixture.Daemon.CreateClient();
        var payload = LegacyEnvelope.Seal([0xff, 0xff], fixture.Key);

        var reply = api.Send(new Messages { Encrypted = new Encrypted { Aes256CbcSha512 = ByteString.CopyFrom(payload) } });

        Assert.Equal(EnvelopeOpenStatus.Ok, LegacyEnvelope.TryOpen(reply.Encrypted.Aes256CbcSha512.Span, fixture.Key, out var inner));
        Assert.Equal(Error.Types.Code.ParseError, Messages.Parser.ParseFrom(inner).Messages_.Single().Error.Code);
    }
}
