using System.Globalization;
using Butterfly.Infrastructure.Dpdk.Native;

namespace Butterfly.Infrastructure.Dpdk.Tests.Live;

[Collection(DataPathCollection.Name)]
public sealed class StartTests(DataPathFixture fixture)
{
    [Fact]
    public void Default_underlay_is_a_kernel_tap_with_the_requested_mtu()
    {
        var link = Shell.Link(fixture.UnderlayTap);
        Assert.NotNull(link);
        Assert.Contains(" mtu 1400 ", link, StringComparison.Ordinal);
        Assert.Equal(0, fixture.DataPath.UnderlayPort);
    }

    [Fact]
    public void Eal_state_lives_under_its_own_file_prefix()
    {
        Assert.Equal(EalArguments.FilePrefixFor(fixture.SocketDir), fixture.DataPath.FilePrefix);
        Assert.True(Directory.Exists(Path.Combine("/var/run/dpdk", fixture.DataPath.FilePrefix)));
    }

    [Fact]
    public void Packet_thread_is_registered_and_pinned_to_the_graph_cpu()
    {
        var thread = fixture.DataPath.PacketThread;
        Assert.True(thread.Lcore > 0, "the main lcore is 0; the packet thread gets another");
        Assert.Equal(fixture.GraphCpu, thread.PinnedCpu);
        var status = File.ReadAllText($"/proc/self/task/{thread.NativeThreadId}/status");
        Assert.Contains($"Cpus_allowed_list:\t{fixture.GraphCpu}\n", status, StringComparison.Ordinal);
    }

    [Fact]
    public void Packet_thread_runs_ahead_of_other_tasks_on_its_cpu_at_the_default_nice_value()
    {
        var thread = fixture.DataPath.PacketThread;
        // /proc/<pid>/task/<tid>/stat: after "(comm)", the state is field 3 and nice field 19.
        var stat = File.ReadAllText($"/proc/self/task/{thread.NativeThreadId}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

        Assert.Equal(DataPathOptions.DefaultGraphNice, thread.Nice);
        Assert.Equal(DataPathOptions.DefaultGraphNice, int.Parse(fields[19 - 3], CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Eal_threads_keep_off_the_graph_cpu()
    {
        if (Environment.ProcessorCount < 2)
        {
            return;
        }
        foreach (var task in Directory.GetDirectories("/proc/self/task"))
        {
            var comm = File.ReadAllText(Path.Combine(task, "comm")).Trim();
            if (comm.StartsWith("eal-", StringComparison.Ordinal) || comm.StartsWith("rte_", StringComparison.Ordinal)
                || comm.StartsWith("telemetry", StringComparison.Ordinal) || comm.StartsWith("vhost", StringComparison.Ordinal))
            {
                var allowed = File.ReadAllLines(Path.Combine(task, "status")).First(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal));
                Assert.DoesNotContain(fixture.GraphCpu.ToString(CultureInfo.InvariantCulture), allowed.Split('\t')[1], StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Idle_packet_thread_uses_under_two_percent_of_a_cpu()
    {
        var tid = fixture.DataPath.PacketThread.NativeThreadId;
        Thread.Sleep(300); // past the busy-poll phase that follows the last frame
        var (ranBefore, runsBefore) = SchedStat(tid);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Thread.Sleep(2000);
        var (ranAfter, runsAfter) = SchedStat(tid);
        var share = (ranAfter - ranBefore) / clock.Elapsed.TotalNanoseconds;
        Assert.True(share < 0.02, $"the idle packet thread used {share:P2} of a CPU in {runsAfter - runsBefore} wake-ups");
    }

    [Fact]
    public void Mbuf_offsets_come_from_the_dpdk_build()
    {
        // struct rte_mbuf of DPDK 22.11 on x86_64 (rte_mbuf_core.h).
        Assert.Equal(0, MbufLayout.BufAddr);
        Assert.Equal(16, MbufLayout.DataOff);
        Assert.Equal(20, MbufLayout.NbSegs);
        Assert.Equal(22, MbufLayout.Port);
        Assert.Equal(24, MbufLayout.OlFlags);
        Assert.Equal(36, MbufLayout.PktLen);
        Assert.Equal(40, MbufLayout.DataLen);
        Assert.Equal(64, MbufLayout.Next);
        Assert.Equal(128, MbufLayout.Size);
    }

    [Theory]
    [InlineData("", null, "127.0.0.1", null, "socket directory is empty")]
    [InlineData("/tmp/x", null, "10.0.0.300", null, "underlay IP '10.0.0.300'")]
    [InlineData("/tmp/x", "1499x", "::1", null, "NIC MTU '1499x'")]
    [InlineData("/tmp/x", "67", "::1", null, "NIC MTU '67'")]
    [InlineData("/tmp/x", null, "::1", "--vdev 'net_tap1", "unterminated ' quote")]
    [InlineData("/tmp/x", null, "::1", "-d /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0", "-d cannot load a driver")]
    public void Bad_options_are_refused_before_dpdk_is_touched(string dir, string? mtu, string ip, string? dpdkArgs, string reason)
    {
        var options = fixture.Options with { SocketDir = dir, NicMtu = mtu, UnderlayIp = ip, DpdkArgs = dpdkArgs };
        var e = Assert.Throws<ArgumentException>(() => DpdkDataPath.Start(options, new Serilog.LoggerConfiguration().CreateLogger()));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Eal_runs_on_the_drivers_linked_into_the_shim_and_loads_no_plugin()
    {
        // The shim links DPDK statically (native/Makefile): EAL must not dlopen DPDK's shared
        // plugin directory, which would cost ≈ 0.17 s and ≈ 13 MiB and bring a second DPDK.
        var drivers = Shim.StaticDrivers();
        Assert.NotNull(drivers);
        Assert.Contains("net_tap", drivers.Split(' '));
        Assert.Contains("mempool_ring", drivers.Split(' '));
        var dpdkLibraries = File.ReadLines("/proc/self/maps").Where(l => l.Contains("librte_", StringComparison.Ordinal)).ToList();
        Assert.True(dpdkLibraries.Count == 0, "mapped: " + string.Join('\n', dpdkLibraries.Take(5)));
    }

    [Fact]
    public void A_second_eal_in_the_same_process_is_refused_with_a_reason()
    {
        var e = Assert.Throws<InvalidOperationException>(() => DpdkEal.Initialize(["butterflyd"], []));
        Assert.Contains("only once per process", e.Message, StringComparison.Ordinal);
        Assert.True(Shim.bf_max_ports() > 1);
    }

    /// <summary>Nanoseconds the thread has run and times it was scheduled (exact, unlike the tick-sampled utime).</summary>
    private static (double Ran, long Runs) SchedStat(int tid)
    {
        var fields = File.ReadAllText($"/proc/self/task/{tid}/schedstat").Split(' ');
        return (double.Parse(fields[0], CultureInfo.InvariantCulture), long.Parse(fields[2], CultureInfo.InvariantCulture));
    }
}
