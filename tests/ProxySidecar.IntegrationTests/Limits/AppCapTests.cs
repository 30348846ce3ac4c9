using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Caching;
using static ProxySidecar.IntegrationTests.Limits.LimitsTestClients;

namespace ProxySidecar.IntegrationTests.Limits;

/// <summary>
/// The cap on what reaches the app, through real TLS, with an app that holds its requests until the test releases
/// them (bounded by a timeout): beyond the cap and its queue, 503 with Retry-After; cache hits and stale answers
/// keep being served while the app is saturated; a background refresh does not wait for a slot.
/// </summary>
public sealed class AppCapTests
{
    private static readonly TimeSpan HoldBound = TimeSpan.FromSeconds(20);

    private static Dictionary<string, string?> Cap(int max, int queue, string timeout = "00:00:10") => new()
    {
        ["Sidecar:Limits:App:MaxConcurrentRequests"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Sidecar:Limits:App:QueueLimit"] = queue.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Sidecar:Limits:App:QueueTimeout"] = timeout,
    };

    [Fact]
    public async Task AppSaturated_CacheHitsAreStillServed_AndAMissGets503WithRetryAfter()
    {
        await using var cache = await CacheTestHost.StartAsync(Cap(max: 1, queue: 0));
        cache.Upstream.Map("/cached", cache.Respond(200, ("Cache-Control", "max-age=600")));
        await cache.WaitUntilStoredAsync("/cached");
        await using var hold = Hold(cache, "/slow");
        var slow = cache.GetAsync("/slow");
        await hold.ArrivedAsync();

        var hits = new List<(HttpStatusCode Status, string CacheStatus)>();
        for (var i = 0; i < 20; i++)
        {
            using var hit = await cache.GetAsync("/cached");
            hits.Add((hit.StatusCode, hit.CacheStatus()));
        }

        using var miss = await cache.GetAsync("/miss");
        hold.Release();
        using var slowResponse = await slow;

        Assert.All(hits, h => Assert.Equal(HttpStatusCode.OK, h.Status));
        Assert.All(hits, h => Assert.Contains("; hit", h.CacheStatus, StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, miss.StatusCode);
        Assert.Equal("1", miss.Headers.GetValues("Retry-After").Single());
        Assert.Equal("application/problem+json", miss.Content.Headers.ContentType?.MediaType);
        Assert.Equal(503, (int)JsonNode.Parse(miss.Body())!["status"]!);
        Assert.Equal(0, cache.Hits("/miss"));
        Assert.Equal(1, cache.Hits("/cached"));
        Assert.Equal(HttpStatusCode.OK, slowResponse.StatusCode);
        var app = (await LimitsAsync(cache.Sidecar))["app"]!;
        Assert.Equal(1, (long)app["rejected"]!["queueFull"]!);
        Assert.Equal(0, (int)app["inFlight"]!);
    }

    [Fact]
    public async Task AppSaturated_AStaleEntryWithStaleIfErrorIsServed()
    {
        await using var cache = await CacheTestHost.StartAsync(Cap(max: 1, queue: 0));
        cache.Upstream.Map("/page", cache.Respond(200, ("Cache-Control", "max-age=1, stale-if-error=600")));
        await cache.WaitUntilStoredAsync("/page");
        cache.Time.Advance(TimeSpan.FromSeconds(5));
        await using var hold = Hold(cache, "/slow");
        var slow = cache.GetAsync("/slow");
        await hold.ArrivedAsync();

        using var stale = await cache.GetAsync("/page");
        hold.Release();
        using var _ = await slow;

        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal("v1", stale.Body());
        Assert.Contains("detail=stale-if-error", stale.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(1, cache.Hits("/page"));
    }

    [Fact]
    public async Task AppSaturated_BackgroundRefreshGivesUpAtOnce_AndTheStaleEntryIsServed()
    {
        // A queue that a client would wait in: the refresh must not.
        await using var cache = await CacheTestHost.StartAsync(Cap(max: 1, queue: 10));
        cache.Upstream.Map("/news", cache.Respond(200, ("Cache-Control", "max-age=1, stale-while-revalidate=600")));
        await cache.WaitUntilStoredAsync("/news");
        cache.Time.Advance(TimeSpan.FromSeconds(5));
        await using var hold = Hold(cache, "/slow");
        var slow = cache.GetAsync("/slow");
        await hold.ArrivedAsync();

        using var stale = await cache.GetAsync("/news");
        await EventuallyAsync(async () => (long)(await LimitsAsync(cache.Sidecar))["app"]!["rejected"]!["refresh"]! == 1, "the refresh was refused by the cap");
        using var staleAgain = await cache.GetAsync("/news");
        await EventuallyAsync(async () => (long)(await LimitsAsync(cache.Sidecar))["app"]!["rejected"]!["refresh"]! == 2, "the next request's refresh was refused too");
        var app = (await LimitsAsync(cache.Sidecar))["app"]!;
        var appSawNews = cache.Hits("/news");
        hold.Release();
        using var _ = await slow;

        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Contains("detail=stale-while-revalidate", stale.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, staleAgain.StatusCode);
        Assert.Equal("v1", staleAgain.Body());
        Assert.Contains("detail=stale-while-revalidate", staleAgain.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(0, (int)app["queued"]!);
        Assert.Equal(1, appSawNews);
        Assert.Equal(2, await MetricAsync(cache.Sidecar, "proxysidecar_limits_app_rejected_total{reason=\"refresh\"}"));
    }

    [Fact]
    public async Task QueuedRequest_GoesToTheAppWhenASlotFrees_AndOneBeyondTheQueueGets503()
    {
        await using var cache = await CacheTestHost.StartAsync(Cap(max: 1, queue: 1));
        await using var hold = Hold(cache, "/slow");
        var slow = cache.GetAsync("/slow");
        await hold.ArrivedAsync();

        var queued = cache.GetAsync("/queued");
        await EventuallyAsync(async () => (int)(await LimitsAsync(cache.Sidecar))["app"]!["queued"]! == 1, "the second request waits");
        using var beyond = await cache.GetAsync("/beyond");
        Assert.Equal(0, cache.Hits("/queued"));
        hold.Release();
        using var slowResponse = await slow;
        using var queuedResponse = await queued;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, beyond.StatusCode);
        Assert.Equal(0, cache.Hits("/beyond"));
        Assert.Equal(HttpStatusCode.OK, queuedResponse.StatusCode);
        Assert.Equal(1, cache.Hits("/queued"));
    }

    [Fact]
    public async Task QueueTimeout_TheWaitingRequestGets503AndNeverReachesTheApp()
    {
        await using var cache = await CacheTestHost.StartAsync(Cap(max: 1, queue: 5, timeout: "00:00:00.3"));
        await using var hold = Hold(cache, "/slow");
        var slow = cache.GetAsync("/slow");
        await hold.ArrivedAsync();

        using var late = await cache.GetAsync("/late");
        var app = (await LimitsAsync(cache.Sidecar))["app"]!;
        hold.Release();
        using var _ = await slow;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, late.StatusCode);
        Assert.Equal("1", late.Headers.GetValues("Retry-After").Single());
        Assert.Equal(0, cache.Hits("/late"));
        Assert.Equal(1, (long)app["rejected"]!["queueTimeout"]!);
        Assert.Equal(0, (int)app["queued"]!);
        Assert.Equal(1, await MetricAsync(cache.Sidecar, "proxysidecar_limits_app_rejected_total{reason=\"queue_timeout\"}"));
    }

    [Fact]
    public async Task NoCap_RequestsAreForwardedSideBySide()
    {
        await using var cache = await CacheTestHost.StartAsync();
        await using var hold = Hold(cache, "/slow");
        var first = cache.GetAsync("/slow?1");
        var second = cache.GetAsync("/slow?2");
        await CacheTestHost.EventuallyAsync(() => cache.Hits("/slow") == 2, "both requests reach the app");
        hold.Release();

        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
        Assert.Null((await LimitsAsync(cache.Sidecar))["app"]);
    }

    /// <summary>An app handler for <paramref name="path"/> that holds each request until released (or until a bound passes).</summary>
    private static HeldPath Hold(CacheTestHost cache, string path)
    {
        var held = new HeldPath(cache, path);
        cache.Upstream.Map(path, async context =>
        {
            await held.Released.Task.WaitAsync(HoldBound);
            context.Response.Headers.CacheControl = "no-store";
            await context.Response.WriteAsync("held");
        });
        return held;
    }

    private sealed class HeldPath(CacheTestHost cache, string path) : IAsyncDisposable
    {
        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task ArrivedAsync() => CacheTestHost.EventuallyAsync(() => cache.Hits(path) > 0, path + " reached the app");

        public void Release() => Released.TrySetResult();

        public ValueTask DisposeAsync()
        {
            Release();
            return ValueTask.CompletedTask;
        }
    }
}
