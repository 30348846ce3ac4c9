using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Caching;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.WarmUp;

/// <summary>The start-up warm list (Sidecar:WarmUp:Urls): readiness waits for it, bounded by Sidecar:WarmUp:Timeout.</summary>
public sealed class StartupWarmUpTests
{
    [Fact]
    public async Task Startup_WarmList_ReadinessIs503UntilItIsWarmedThenTheEntriesAreHits()
    {
        var upstream = await TestUpstream.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Map("/home", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=600";
            await context.Response.WriteAsync("home");
        });
        upstream.Map("/slow", async context =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            context.Response.Headers.CacheControl = "max-age=600";
            await context.Response.WriteAsync("slow");
        });
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:WarmUp:Urls:0"] = "https://localhost/home",
            ["Sidecar:WarmUp:Urls:1"] = "https://localhost/slow",
            ["Sidecar:WarmUp:Timeout"] = "00:05:00",
        }, upstream: upstream);

        // /home is stored at once, /slow waits: readiness says so until /slow is answered.
        var (status, reason) = await ReadinessAsync(host);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (reason?.StartsWith("warming the cache: 1 of 2", StringComparison.Ordinal) != true && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            (status, reason) = await ReadinessAsync(host);
        }

        var during = await host.Sidecar.GetStatusAsync();
        release.SetResult();
        await host.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
        using var home = await host.GetAsync("/home", r => r.Headers.Host = "localhost");
        using var slow = await host.GetAsync("/slow", r => r.Headers.Host = "localhost");
        var after = await host.Sidecar.GetStatusAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.StartsWith("warming the cache: 1 of 2 URLs fetched; ready at the latest at ", reason, StringComparison.Ordinal);
        Assert.Equal("running", (string?)during["warmUp"]!["startup"]);
        Assert.StartsWith("ProxySidecar; hit", home.CacheStatus(), StringComparison.Ordinal);
        Assert.StartsWith("ProxySidecar; hit", slow.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(2, upstream.Count);
        Assert.Equal("done", (string?)after["warmUp"]!["startup"]);
        Assert.Equal(2, (int)after["warmUp"]!["last"]!["stored"]!);
        Assert.Equal("start-up", (string?)after["warmUp"]!["last"]!["trigger"]);
    }

    [Fact]
    public async Task Startup_AppNeverAnswersTheWarmList_ReadyOnceTheTimeoutHasPassed()
    {
        var logs = new CapturedLogs();
        var upstream = await TestUpstream.StartAsync();
        upstream.Map("/hangs", async context =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        });
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:WarmUp:Urls:0"] = "https://localhost/hangs",
            ["Sidecar:WarmUp:Timeout"] = "00:00:02",
        }, configureServices: logs.AddTo, upstream: upstream);

        await host.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK, TimeSpan.FromSeconds(30));
        var status = await host.Sidecar.WaitForStatusAsync(s => (string?)s["warmUp"]?["startup"] == "timed out");

        Assert.Contains(upstream.Received, r => r.Path == "/hangs");
        Assert.Contains(logs.Entries, e => e.EventId.Id == 906);
        Assert.Equal(1, (int)status["warmUp"]!["last"]!["notFetched"]!);
        Assert.True((bool)status["warmUp"]!["last"]!["timedOut"]!);
    }

    [Fact]
    public async Task Startup_NoWarmList_ReadyWithoutWarmingAnything()
    {
        await using var host = await CacheTestHost.StartAsync();

        await host.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
        var status = await host.Sidecar.GetStatusAsync();

        Assert.Equal("not configured", (string?)status["warmUp"]!["startup"]);
        Assert.Equal(0, host.Upstream.Count);
    }

    private static async Task<(HttpStatusCode Status, string? Reason)> ReadinessAsync(CacheTestHost host)
    {
        using var admin = host.Sidecar.CreateAdminClient();
        using var response = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync());
        return (response.StatusCode, (string?)body?["reason"]);
    }
}
