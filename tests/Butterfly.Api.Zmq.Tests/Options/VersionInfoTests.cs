using System.Text.RegularExpressions;
using Butterfly.Wire;

namespace Butterfly.Api.Zmq.Tests.Options;

public class VersionInfoTests
{
    [Fact]
    public void The_version_line_has_the_original_shape_and_embedded_build_facts()
    {
        // VersionInfo is compiled into butterflyd.dll; its metadata comes from Build/Version.targets.
        var line = VersionInfo.Line;

        Assert.Matches(new Regex("^butterfly version: \"[0-9.]+\" proto revision: \"6\" commit: \"([0-9a-f]{7,40}|unknown)\" date: \"[0-9]{4}-[0-9]{2}-[0-9]{2}\"$"), line);
        Assert.NotEqual("unknown", VersionInfo.Version);
    }
}
