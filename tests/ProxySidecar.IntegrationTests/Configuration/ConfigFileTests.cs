using System.Net;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Configuration;

/// <summary>
/// The extra JSON file (a ConfigMap mount): its values apply, environment variables and the command line
/// win over it, a kubelet-style "..data" symlink swap is picked up, and a bad change keeps the last good values.
/// </summary>
public sealed class ConfigFileTests
{
    [Fact]
    public async Task ConfigFile_ValuesApply()
    {
        await using var app = await TestUpstream.StartAsync();
        using var mount = new ConfigMapMount();
        mount.Publish($$"""{ "Sidecar": { "Upstream": { "Address": "{{app.Address}}" } } }""");
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Upstream:Address"] = null,
            ["Sidecar:ConfigFile"] = mount.FilePath,
        });
        using var client = stack.CreateClient();

        using var response = await client.GetAsync(new Uri("/from-file", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(app.Received);
        Assert.Empty(stack.Upstream.Received);
    }

    [Fact]
    public async Task ConfigFile_SymlinkSwap_SwitchesUpstreamWithoutRestart()
    {
        await using var first = await TestUpstream.StartAsync();
        await using var second = await TestUpstream.StartAsync();
        using var mount = new ConfigMapMount();
        await using var stack = await StartWithMountAsync(mount, first);
        using var client = stack.CreateClient();
        using (var before = await client.GetAsync(new Uri("/before", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        mount.Publish($$"""{ "Sidecar": { "Upstream": { "Address": "{{second.Address}}" } } }""");
        await stack.Sidecar.WaitForStatusAsync(
            s => (string?)s["upstream"]?["destinations"]?["app/app"] == second.Address.ToString(),
            because: "the proxy routes to the app the swapped file names");
        using var after = await client.GetAsync(new Uri("/after", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Contains(second.Received, r => r.Path == "/after");
        Assert.Contains(first.Received, r => r.Path == "/before");
        Assert.DoesNotContain(first.Received, r => r.Path == "/after");
    }

    [Theory]
    [InlineData("{ \"Sidecar\": { \"Upstream\": { \"Address\": ")]
    [InlineData("{ \"Sidecar\": { \"Upstream\": { \"Address\": \"not-a-url\" } } }")]
    public async Task ConfigFile_BadChange_KeepsTheLastGoodConfiguration(string badContent)
    {
        await using var first = await TestUpstream.StartAsync();
        using var mount = new ConfigMapMount();
        await using var stack = await StartWithMountAsync(mount, first);
        var good = first.Address.ToString();

        mount.Publish(badContent);
        var status = await stack.Sidecar.WaitForStatusAsync(s => s["configFile"]?["lastError"] is not null, because: "the bad change is reported");
        using var client = stack.CreateClient();
        using var response = await client.GetAsync(new Uri("/still-served", UriKind.Relative));

        Assert.Equal(good, (string?)status["upstream"]?["address"]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(first.Received, r => r.Path == "/still-served");
    }

    [Fact]
    public async Task ConfigFile_CommandLineOrEnvironmentValue_WinsOverTheFile()
    {
        await using var other = await TestUpstream.StartAsync();
        using var mount = new ConfigMapMount();
        mount.Publish($$"""{ "Sidecar": { "Upstream": { "Address": "{{other.Address}}" } } }""");
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:ConfigFile"] = mount.FilePath });
        using var client = stack.CreateClient();

        using var response = await client.GetAsync(new Uri("/which", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(stack.Upstream.Received, r => r.Path == "/which");
        Assert.Empty(other.Received);
    }

    [Fact]
    [Trait("Category", SidecarProcess.Category)]
    public async Task ConfigFile_GivenByEnvironmentVariable_AppliesBelowOtherEnvironmentVariables()
    {
        await using var fromFile = await TestUpstream.StartAsync();
        await using var fromEnvironment = await TestUpstream.StartAsync();
        using var mount = new ConfigMapMount();
        mount.Publish($$"""{ "Sidecar": { "Upstream": { "Address": "{{fromFile.Address}}", "ProbePath": "/probe-from-file", "ProbeInterval": "00:00:00.2" } } }""");
        using var setup = ProcessSetup.Start(fromEnvironment.Address, new Dictionary<string, string?>
        {
            ["PROXYSIDECAR_CONFIG"] = mount.FilePath,
        });
        await setup.WaitForReadinessAsync();
        using var client = setup.CreateClient();

        using var response = await client.GetAsync(new Uri("/which", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(fromEnvironment.Received, r => r.Path == "/which");
        Assert.Contains(fromEnvironment.Received, r => r.Path == "/probe-from-file");
        Assert.Empty(fromFile.Received);
    }

    /// <summary>A sidecar whose upstream address comes only from the mounted file, reloaded every 200 ms.</summary>
    private static Task<SidecarSetup> StartWithMountAsync(ConfigMapMount mount, TestUpstream first)
    {
        mount.Publish($$"""{ "Sidecar": { "Upstream": { "Address": "{{first.Address}}" } } }""");
        return SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:ConfigFile"] = mount.FilePath,
            ["Sidecar:ConfigFileReloadInterval"] = "00:00:00.2",
            ["Sidecar:Upstream:Address"] = null,
        });
    }
}

/// <summary>
/// A directory laid out the way the kubelet mounts a ConfigMap: config.json → ..data/config.json,
/// ..data → ..&lt;timestamp&gt;; each publish writes a new timestamped directory and swaps ..data atomically.
/// </summary>
internal sealed class ConfigMapMount : IDisposable
{
    private readonly TempDirectory _temp = new();
    private int _generation;

    public ConfigMapMount()
    {
        File.CreateSymbolicLink(FilePath, Path.Combine("..data", "config.json"));
    }

    public string FilePath => _temp.Combine("config.json");

    public void Publish(string json)
    {
        var generation = $"..{DateTime.UtcNow:yyyy_MM_dd_HH_mm_ss}.{Interlocked.Increment(ref _generation)}";
        Directory.CreateDirectory(_temp.Combine(generation));
        File.WriteAllText(_temp.Combine(generation, "config.json"), json);
        var staging = _temp.Combine("..data_tmp");
        File.CreateSymbolicLink(staging, generation);
        if (Rename(staging, _temp.Combine("..data")) != 0)
        {
            throw new IOException($"rename failed: {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename(string from, string to);

    public void Dispose() => _temp.Dispose();
}
