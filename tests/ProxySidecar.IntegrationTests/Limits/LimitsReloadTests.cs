using System.Net;
using ProxySidecar.IntegrationTests.Configuration;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Limits.LimitsTestClients;

namespace ProxySidecar.IntegrationTests.Limits;

/// <summary>
/// Sidecar:Limits at start and live from the mounted file: a bad section stops start-up with every bad key named
/// beside the other sections' problems; a good change applies to the next request, a bad one is rejected and the
/// last good rules keep limiting with the counts they had, and a change elsewhere resets no count.
/// </summary>
public sealed class LimitsReloadTests
{
    [Fact]
    public async Task Start_BadLimits_FailsWithEveryBadKeyNamed_BesideOtherSections()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Hosting:MaxRequestHeaderCount"] = "0",
            ["Sidecar:Limits:MaxPartitions"] = "0",
            ["Sidecar:Limits:App:MaxConcurrentRequests"] = "0",
            ["Sidecar:Limits:Rules:0:PartitionBy"] = "Header",
            ["Sidecar:Limits:Rules:1:Algorithm"] = "SlidingWindow",
            ["Sidecar:Limits:Rules:1:TokensPerWindow"] = "3",
        }));
        var problems = StartupFailure.Describe(error);

        Assert.Contains(problems, p => p.StartsWith("Sidecar:Hosting:MaxRequestHeaderCount:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Sidecar:Limits:MaxPartitions:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Sidecar:Limits:App:MaxConcurrentRequests:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Sidecar:Limits:Rules:0:Header:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("Sidecar:Limits:Rules:1:TokensPerWindow:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_UnknownAlgorithm_NamesTheKeyAndTheChoices()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Limits:Rules:0:Algorithm"] = "LeakyBucket",
        }));

        var problem = Assert.Single(StartupFailure.Describe(error));
        Assert.StartsWith("Sidecar:Limits:Rules:0:Algorithm: \"LeakyBucket\"", problem, StringComparison.Ordinal);
        Assert.Contains("TokenBucket, SlidingWindow", problem, StringComparison.Ordinal);
    }

    private const string OneLoginPerHour = """{ "Sidecar": { "Limits": { "Rules": [ { "Name": "login", "Path": "/login", "PermitLimit": 1, "Window": "01:00:00" } ] } } }""";

    [Fact]
    public async Task GoodChange_AppliesWithoutRestart_AndShowsInStatus()
    {
        using var mount = new ConfigMapMount();
        await using var stack = await StartAsync(mount, OneLoginPerHour);
        using var client = stack.CreateClient();
        using (var first = await GetAsync(client, "/login"))
        using (var refused = await GetAsync(client, "/login"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        mount.Publish("""{ "Sidecar": { "Limits": { "Rules": [ { "Name": "login-relaxed", "Path": "/login", "PermitLimit": 100, "Window": "00:01:00" } ] } } }""");
        var status = await stack.Sidecar.WaitForStatusAsync(s => Rule(s, "login-relaxed") is not null, because: "the new rule is live");
        using var after = await GetAsync(client, "/login");

        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(100, (int)Rule(status, "login-relaxed")!["permitLimit"]!);
        Assert.Null(Rule(status, "login"));
        Assert.NotNull(status["limits"]!["lastReload"]);
    }

    [Theory]
    [InlineData("""{ "Sidecar": { "Limits": { "Rules": [ { "Name": "login", "Path": "/login", "PermitLimit": 0 } ] } } }""")]
    [InlineData("""{ "Sidecar": { "Limits": { "Rules": [ { "Name": "login", "Path": "login", "PermitLimit": 100 } ] } } }""")]
    [InlineData("""{ "Sidecar": { "Limits": { "TrustedProxies": [ "not-a-network" ], "Rules": [ { "Name": "login", "Path": "/login", "PermitLimit": 100 } ] } } }""")]
    public async Task BadChange_IsRejected_AndTheLastGoodTableKeepsLimiting(string bad)
    {
        using var mount = new ConfigMapMount();
        await using var stack = await StartAsync(mount, OneLoginPerHour);
        using var client = stack.CreateClient();
        using (var first = await GetAsync(client, "/login"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        mount.Publish(bad);
        var status = await stack.Sidecar.WaitForStatusAsync(s => s["configFile"]?["lastError"] is not null, because: "the bad change is reported");
        using var still = await GetAsync(client, "/login");

        Assert.Contains("Sidecar:Limits", (string?)status["configFile"]!["lastError"], StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.TooManyRequests, still.StatusCode);
        var rule = Rule(status, "login")!;
        Assert.Equal(1, (int)rule["permitLimit"]!);
        Assert.Equal(1, (int)rule["partitions"]!);
        Assert.Null(status["limits"]!["lastReload"]);
    }

    [Fact]
    public async Task ChangeElsewhere_KeepsEveryClientsCount()
    {
        using var mount = new ConfigMapMount();
        await using var stack = await StartAsync(mount, OneLoginPerHour);
        using var client = stack.CreateClient();
        using (var first = await GetAsync(client, "/login"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        mount.Publish("""{ "Sidecar": { "Upstream": { "ProbeInterval": "00:00:03" }, "Limits": { "Rules": [ { "Name": "login", "Path": "/login", "PermitLimit": 1, "Window": "01:00:00" } ] } } }""");
        await stack.Sidecar.WaitForStatusAsync(s => s["configFile"]?["lastReload"] is not null, because: "the change is loaded");
        using var still = await GetAsync(client, "/login");

        Assert.Equal(HttpStatusCode.TooManyRequests, still.StatusCode);
        Assert.Null((await stack.Sidecar.GetStatusAsync())["limits"]!["lastReload"]);
    }

    [Fact]
    public async Task AnotherRuleAdded_TheRulesThatDidNotChangeKeepTheirCounts()
    {
        using var mount = new ConfigMapMount();
        await using var stack = await StartAsync(mount, OneLoginPerHour);
        using var client = stack.CreateClient();
        using (var first = await GetAsync(client, "/login"))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        mount.Publish("""{ "Sidecar": { "Limits": { "Rules": [ { "Name": "search", "Path": "/search", "PermitLimit": 5 }, { "Name": "login", "Path": "/login", "PermitLimit": 1, "Window": "01:00:00" } ] } } }""");
        await stack.Sidecar.WaitForStatusAsync(s => Rule(s, "search") is not null, because: "the new rule is live");
        using var still = await GetAsync(client, "/login");

        Assert.Equal(HttpStatusCode.TooManyRequests, still.StatusCode);
    }

    [Fact]
    public async Task CapOnTheApp_SetByAReload_Applies()
    {
        using var mount = new ConfigMapMount();
        await using var stack = await StartAsync(mount, """{ "Sidecar": { "Limits": { } } }""");
        Assert.Null((await stack.Sidecar.GetStatusAsync())["limits"]!["app"]);

        mount.Publish("""{ "Sidecar": { "Limits": { "App": { "MaxConcurrentRequests": 3, "QueueLimit": 7 } } } }""");
        var status = await stack.Sidecar.WaitForStatusAsync(s => s["limits"]?["app"] is not null, because: "the cap is live");

        Assert.Equal(3, (int)status["limits"]!["app"]!["maxConcurrentRequests"]!);
        Assert.Equal(7, (int)status["limits"]!["app"]!["queueLimit"]!);
    }

    private static Task<SidecarSetup> StartAsync(ConfigMapMount mount, string json)
    {
        mount.Publish(json);
        return SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:ConfigFile"] = mount.FilePath,
            ["Sidecar:ConfigFileReloadInterval"] = "00:00:00.2",
        });
    }
}
