namespace Butterfly.Infrastructure.Dpdk.Tests;

public sealed class EalArgumentsTests
{
    private static DataPathOptions Options(string? dpdkArgs) =>
        new("/run/butterfly", dpdkArgs, GraphCpuCore: 0, DpdkPort: 0, NicMtu: null, PacketTrace: false, NoOffload: false, UnderlayIp: "10.0.0.1");

    [Fact]
    public void Defaults_need_no_hugepages_nor_pci_and_add_a_tap_underlay()
    {
        var argv = EalArguments.Build(Options(null), [1], out var prefix);

        Assert.Equal("butterflyd", argv[0]);
        Assert.Equal(EalArguments.FilePrefixFor("/run/butterfly"), prefix);
        Assert.Equal(
            ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", prefix,
             $"--vdev=net_tap0,iface={EalArguments.UnderlayTapFor(prefix)}", "--lcores", "0@(1)"],
            argv[1..]);
    }

    [Fact]
    public void File_prefix_is_stable_per_socket_dir_and_the_tap_name_fits_ifnamsiz()
    {
        var a = EalArguments.FilePrefixFor("/run/butterfly");
        Assert.Equal(a, EalArguments.FilePrefixFor("/run/butterfly/"));
        Assert.NotEqual(a, EalArguments.FilePrefixFor("/run/butterfly2"));
        Assert.StartsWith("butterfly-", a, StringComparison.Ordinal);
        Assert.InRange(EalArguments.UnderlayTapFor(a).Length, 1, 15);
    }

    [Fact]
    public void Raw_arguments_are_kept_and_get_a_file_prefix_and_lcores_only_when_absent()
    {
        var argv = EalArguments.Build(Options("--vdev=net_af_packet0,iface=eth1 -m 1024"), [0, 2, 3], out var prefix);
        Assert.Equal(
            ["butterflyd", "--vdev=net_af_packet0,iface=eth1", "-m", "1024", "--file-prefix", prefix, "--lcores", "0@(0,2,3)"],
            argv);

        argv = EalArguments.Build(Options("-l 2 --file-prefix=mine"), [0], out prefix);
        Assert.Equal("mine", prefix);
        Assert.Equal(["butterflyd", "-l", "2", "--file-prefix=mine"], argv);
    }

    [Theory]
    [InlineData("-d /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_net_ice.so")]
    [InlineData("--no-pci -d/opt/pmds")]
    public void A_driver_path_is_refused_when_the_shim_links_dpdk_statically(string raw)
    {
        var e = Assert.Throws<FormatException>(() => EalArguments.Build(Options(raw), [0], out _, staticDrivers: "bus_vdev net_tap"));
        Assert.Contains("-d cannot load a driver", e.Message, StringComparison.Ordinal);
        Assert.Contains("bus_vdev net_tap", e.Message, StringComparison.Ordinal);
        Assert.Contains("DPDK_DRIVERS", e.Message, StringComparison.Ordinal);

        // Built against the shared libraries, -d is EAL's business.
        Assert.Contains(EalArguments.Split(raw)[^1], EalArguments.Build(Options(raw), [0], out _, staticDrivers: null));
    }

    [Fact]
    public void Split_follows_shell_quoting()
    {
        Assert.Equal(["--vdev", "net_pcap0,rx_pcap=/tmp/a b.pcap", "x\"y", "it's"],
            EalArguments.Split("  --vdev 'net_pcap0,rx_pcap=/tmp/a b.pcap'\tx\\\"y \"it's\" "));
        Assert.Empty(EalArguments.Split("   "));
    }

    [Theory]
    [InlineData("--vdev 'net_tap0")]
    [InlineData("-m 512 \"x")]
    [InlineData("ends\\")]
    public void Split_rejects_unbalanced_input(string raw)
    {
        Assert.Throws<FormatException>(() => EalArguments.Split(raw));
    }
}
