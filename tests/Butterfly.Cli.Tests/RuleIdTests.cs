using System.Diagnostics;
using System.Text;
using Butterfly.Cli.Rules;
using Butterfly.Cli.Tests.Support;
using static Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Cli.Tests;

public class RuleIdTests
{
    // Computed with g++ 12 / libstdc++ on x86-64: std::hash<std::string>, "%016x".
    [Theory]
    [InlineData("", "553e93901e462a6e")]
    [InlineData("a", "454ddee488c1ed6b")]
    [InlineData("abcdefgh", "783db3e38db898bb")]
    [InlineData("abcdefghi", "b4ec9257851c8aaf")]
    public void Hash_matches_pinned_libstdcxx_values(string text, string expected) =>
        Assert.Equal(expected, LibstdcxxHash.StringHash(Encoding.UTF8.GetBytes(text)).ToString("x16"));

    [Fact]
    public void Rule_id_is_the_hash_of_the_rule_text_format()
    {
        var rule = new Rule { Direction = Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 22, PortEnd = 22, Cidr = new Cidr { Address = "0.0.0.0", MaskSize = 0 } };
        Assert.Equal("53938368015a2a6d", RuleId.Of(rule));
    }

    [Fact]
    public void Rule_line_has_the_original_layout()
    {
        var rule = new Rule { Direction = Rule.Types.Direction.Inbound, Protocol = 6, PortStart = 22, PortEnd = 22, Cidr = new Cidr { Address = "0.0.0.0", MaskSize = 0 } };
        Assert.Equal(
            "53938368015a2a6d | direction: INBOUND - IP protocol: 6 - port start: 22 - port end: 22 - cidr: 0.0.0.0/0 - members of sg: Ø",
            RuleLine.Format(rule));
        var members = new Rule { Direction = Rule.Types.Direction.Outbound, Protocol = -1, SecurityGroup = "web" };
        Assert.EndsWith(" | direction: OUTBOUND - IP protocol: -1 - port start: Ø - port end: Ø - cidr: Ø - members of sg: web", RuleLine.Format(members));
    }

    /// <summary>Compiles a tiny C++ program and compares std::hash on many lengths and bytes.</summary>
    [Fact]
    public void Hash_matches_gxx_std_hash_on_every_length()
    {
        var dir = Directory.CreateTempSubdirectory("butterfly-hash-");
        try
        {
            var source = Path.Combine(dir.FullName, "h.cc");
            File.WriteAllText(source, """
                #include <cstdio>
                #include <functional>
                #include <iostream>
                #include <iterator>
                #include <string>
                int main() {
                  std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
                  size_t start = 0, end;
                  while ((end = all.find('\0', start)) != std::string::npos) {
                    std::printf("%016zx\n", std::hash<std::string>()(all.substr(start, end - start)));
                    start = end + 1;
                  }
                }
                """);
            var exe = Path.Combine(dir.FullName, "h");
            Run("g++", $"-O2 -o {exe} {source}", []);

            var inputs = new List<byte[]>();
            var random = new Random(42);
            for (var len = 0; len < 70; len++)
            {
                var bytes = new byte[len];
                random.NextBytes(bytes);
                for (var i = 0; i < len; i++)
                    bytes[i] = bytes[i] == 0 ? (byte)1 : bytes[i];
                inputs.Add(bytes);
            }
            inputs.Add(Encoding.UTF8.GetBytes("direction: OUTBOUND\nprotocol: -1\nsecurity_group: \"web\"\n"));
            var stdin = inputs.SelectMany(b => b.Append((byte)0)).ToArray();
            var lines = Run(exe, "", stdin).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(inputs.Count, lines.Length);
            for (var i = 0; i < inputs.Count; i++)
                Assert.Equal(lines[i], LibstdcxxHash.StringHash(inputs[i]).ToString("x16"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string Run(string file, string arguments, byte[] stdin)
    {
        var psi = new ProcessStartInfo(file, arguments) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        p.StandardInput.BaseStream.Write(stdin);
        p.StandardInput.Close();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} failed: {error.Result}");
        return output.Result;
    }
}
