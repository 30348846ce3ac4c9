extern alias DemoAppAssembly;

using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using DemoAppAssembly::DemoApp;
using ProxySidecar.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>
/// The README's "Try it": the demo app (samples/DemoApp) behind a real sidecar, and samples/try-it.sh run
/// against them as a reader runs it, so the demo, the script and the output the README shows cannot drift.
/// </summary>
public sealed class TryItTests(ITestOutputHelper output)
{
    private const string PurgeToken = "try-it-test-purge-token-0123456789";

    [CurlFact]
    public async Task TryItScript_AgainstTheDemoApp_ShowsEachStepAsTheReadmeDoes()
    {
        // The demo app as `dotnet run --project samples/DemoApp` starts it, on a free port and with a shorter slow page.
        var demo = DemoSite.Build(["--urls=http://127.0.0.1:0", "--Demo:SlowDelay=00:00:00.300", "--Logging:LogLevel:Default=Warning"]);
        await demo.StartAsync();
        try
        {
            using var rig = SidecarRig.Create();
            await using var sidecar = await SidecarHost.StartAsync(
                rig.Settings(new Uri(demo.Urls.Single()), new Dictionary<string, string?>
                {
                    ["Sidecar:Admin:PurgeToken"] = PurgeToken,
                    ["Sidecar:Upstream:ProbeInterval"] = "00:00:00.200",
                }),
                rig.TrustedCa);
            await sidecar.WaitForReadinessAsync(HttpStatusCode.OK);

            var printed = RunScript(new Dictionary<string, string>
            {
                ["SIDECAR"] = $"https://localhost:{sidecar.HttpsAddress.Port}",
                ["ADMIN"] = sidecar.AdminAddress.ToString().TrimEnd('/'),
                ["PURGE_TOKEN"] = PurgeToken,
            });
            var lines = printed.Split('\n', StringSplitOptions.RemoveEmptyEntries);

            // Each step, whatever the README says.
            AssertStep(lines, "-- a miss, then a hit", "miss", "200", "fwd=uri-miss; fwd-status=200; stored");
            AssertStep(lines, "-- a miss, then a hit", "hit", "200", @"hit; ttl=\d+");
            AssertStep(lines, "-- a revalidation", "revalidated", "200", "fwd=stale; fwd-status=304; stored");
            AssertStep(lines, "-- Vary", "miss (de)", "200", "fwd=vary-miss; fwd-status=200; stored");
            AssertStep(lines, "-- Vary", "hit (en)", "200", @"hit; ttl=\d+");
            AssertStep(lines, "-- stale-while-revalidate", "stale, refreshed behind", "200", @"hit; ttl=-?\d+; detail=stale-while-revalidate");
            AssertStep(lines, "-- stale-if-error", "app fails: stale served", "200", "fwd=stale; fwd-status=503; detail=stale-if-error");
            AssertStep(lines, "-- a purge", "miss after the purge", "200", "fwd=uri-miss; fwd-status=200; stored");
            Assert.Contains("\"kind\":\"url\"", Line(lines, "-- a purge", "purge"), StringComparison.Ordinal);

            // The page personalised by a cookie: each user gets their own, whatever the cache does with it.
            Assert.EndsWith("account: Hello, alice. This page is yours alone.", Line(lines, "-- never shared", "alice"), StringComparison.Ordinal);
            Assert.EndsWith("account: Hello, bob. This page is yours alone.", Line(lines, "-- never shared", "bob"), StringComparison.Ordinal);
            Assert.EndsWith("account: Hello, alice. This page is yours alone.", Line(lines, "-- never shared", "alice again"), StringComparison.Ordinal);

            // And the README shows exactly this output, but for the times taken, the ttl and the port.
            Assert.Equal(Normalise(ReadmeOutput()), Normalise(printed));
        }
        finally
        {
            await demo.StopAsync();
            await demo.DisposeAsync();
        }
    }

    /// <summary>Runs samples/try-it.sh with bash; stopped by PID if it runs for more than a minute.</summary>
    private string RunScript(Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(RepositoryRoot.Combine("samples", "try-it.sh"));
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("samples/try-it.sh did not finish within 60 s:\n" + stdout.Result + stderr.Result);
        }

        output.WriteLine(stdout.Result);
        output.WriteLine(stderr.Result);
        Assert.True(process.ExitCode == 0, $"samples/try-it.sh failed ({process.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }

    /// <summary>The line labelled <paramref name="label"/> in the part of the output that <paramref name="heading"/> starts.</summary>
    private static string Line(string[] lines, string heading, string label)
    {
        var from = Array.FindIndex(lines, l => l.StartsWith(heading, StringComparison.Ordinal));
        Assert.True(from >= 0, $"no part \"{heading}\" in:\n{string.Join('\n', lines)}");
        var line = lines.Skip(from + 1).TakeWhile(l => !l.StartsWith("-- ", StringComparison.Ordinal))
            .FirstOrDefault(l => l.Length > 26 && l[..26].TrimEnd() == label);
        Assert.True(line is not null, $"no line \"{label}\" under \"{heading}\" in:\n{string.Join('\n', lines)}");
        return line;
    }

    /// <summary>The step's status, and its Cache-Status (a pattern, after the cache's name).</summary>
    private static void AssertStep(string[] lines, string heading, string label, string status, string cacheStatus)
    {
        var line = Line(lines, heading, label);
        var columns = Regex.Match(line[26..], @"^ (?<path>\S+) +(?<status>\d{3}) +(?<time>[\d.]+)s +(?<cache>.*)$");
        Assert.True(columns.Success, line);
        Assert.Equal(status, columns.Groups["status"].Value);
        Assert.Matches("^ProxySidecar; " + cacheStatus + "$", columns.Groups["cache"].Value);
    }

    /// <summary>The text block that follows `bash samples/try-it.sh` in the README's "Try it".</summary>
    private static string ReadmeOutput()
    {
        var readme = File.ReadAllText(RepositoryRoot.Combine("README.md")).Replace("\r\n", "\n", StringComparison.Ordinal);
        var section = readme[readme.IndexOf("\n## Try it\n", StringComparison.Ordinal)..];
        var match = Regex.Match(section, "bash samples/try-it.sh\n```\n.*?```text\n(?<output>.*?)```", RegexOptions.Singleline);
        Assert.True(match.Success, "README.md's \"Try it\" shows no output after `bash samples/try-it.sh`");
        return match.Groups["output"].Value;
    }

    /// <summary>The output with what changes from run to run (times taken, ttl, the sidecar's port) written as #.</summary>
    private static string Normalise(string text)
    {
        text = text.Replace("\r\n", "\n", StringComparison.Ordinal).Trim();
        text = Regex.Replace(text, @"\b\d+\.\d{3}s\b", "#s");
        text = Regex.Replace(text, @"ttl=-?\d+", "ttl=#");
        return Regex.Replace(text, @"//localhost:\d+/", "//localhost:#/");
    }
}

/// <summary>
/// A test that needs curl (samples/try-it.sh uses it): skipped with a reason when it is missing, except under
/// CI=true, where it runs and fails, so a CI machine without curl cannot pass silently.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class CurlFactAttribute : FactAttribute
{
    public CurlFactAttribute()
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "curl")));
        if (!found && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "curl is not installed (apt-get install curl); samples/try-it.sh needs it. With CI=true this test fails instead of skipping.";
        }
    }
}
