using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Caching;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>Coalescing, hit-for-miss and the app going away.</summary>
public sealed class CacheConcurrencyTests
{
    [Fact]
    public async Task Get_HundredConcurrentMissesOnOneKey_ReachTheAppOnce()
    {
        await using var host = await CacheTestHost.StartAsync();
        var coalescer = host.Sidecar.Services.GetRequiredService<RequestCoalescer>();
        var respond = host.Respond(200, ("Cache-Control", "max-age=60"));
        host.Upstream.Map("/stampede", async context =>
        {
            // Hold the first request until the others are waiting for it (bounded), so the test means something.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (coalescer.Waiting < 99 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            await respond(context);
        });
        using var handler = host.Sidecar.CreateHandler();
        using var client = new HttpClient(handler) { BaseAddress = host.Sidecar.HttpsAddress };

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => host.GetAsync("/stampede", client: client)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(responses, r => Assert.Equal("v1", r.Body()));
        Assert.Equal(1, host.Hits("/stampede"));
        Assert.Equal(99, responses.Count(r => r.CacheStatus().Contains("detail=coalesced", StringComparison.Ordinal)));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Get_ConcurrentRequestsForAnExpiredEntry_RevalidateOnce()
    {
        await using var host = await CacheTestHost.StartAsync();
        var coalescer = host.Sidecar.Services.GetRequiredService<RequestCoalescer>();
        var respond = host.Respond(200, ("Cache-Control", "max-age=10"), ("ETag", "\"e\""));
        host.Upstream.Map("/expired", async context =>
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
            while (host.Hits("/expired") > 1 && coalescer.Waiting < 19 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            await respond(context);
        });
        using var first = await host.GetAsync("/expired");
        host.Time.Advance(TimeSpan.FromSeconds(30));
        using var handler = host.Sidecar.CreateHandler();
        using var client = new HttpClient(handler) { BaseAddress = host.Sidecar.HttpsAddress };

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => host.GetAsync("/expired", client: client)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, host.Hits("/expired"));
        Assert.Equal(19, responses.Count(r => r.CacheStatus().Contains("detail=coalesced", StringComparison.Ordinal)));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Get_UrlKnownUncacheable_ConcurrentRequestsAreNotSerialised()
    {
        await using var host = await CacheTestHost.StartAsync();
        var inside = 0;
        var maxInside = 0;
        host.Upstream.Map("/uncacheable", async context =>
        {
            var now = Interlocked.Increment(ref inside);
            InterlockedMax(ref maxInside, now);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            while (Volatile.Read(ref maxInside) < 2 && DateTime.UtcNow < deadline && host.Hits("/uncacheable") > 1)
            {
                await Task.Delay(10);
            }

            Interlocked.Decrement(ref inside);
            context.Response.Headers.CacheControl = "no-store";
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "x");
        });
        using var first = await host.GetAsync("/uncacheable");
        Assert.Equal(1, Volatile.Read(ref maxInside));

        using var handler = host.Sidecar.CreateHandler();
        using var client = new HttpClient(handler) { BaseAddress = host.Sidecar.HttpsAddress };
        var both = await Task.WhenAll(host.GetAsync("/uncacheable", client: client), host.GetAsync("/uncacheable", client: client));

        Assert.Equal(2, Volatile.Read(ref maxInside));
        Assert.All(both, r => Assert.Equal("x", r.Body()));
    }

    [Fact]
    public async Task Get_AppStopped_EntryWithinStaleIfErrorIsServed()
    {
        var upstream = await Infrastructure.TestUpstream.StartAsync();
        await using var host = await CacheTestHost.StartAsync(upstream: upstream);
        host.Upstream.Map("/dies", host.Respond(200, ("Cache-Control", "max-age=10, stale-if-error=300")));
        host.Upstream.Map("/dies-strict", host.Respond(200, ("Cache-Control", "max-age=10")));
        using var first = await host.GetAsync("/dies");
        using var strict = await host.GetAsync("/dies-strict");
        await upstream.DisposeAsync();
        host.Time.Advance(TimeSpan.FromSeconds(30));

        using var stale = await host.GetAsync("/dies");
        using var failed = await host.GetAsync("/dies-strict");

        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal("v1", stale.Body());
        Assert.Equal("ProxySidecar; fwd=stale; fwd-status=502; detail=stale-if-error", stale.CacheStatus());
        Assert.Equal(HttpStatusCode.BadGateway, failed.StatusCode);
    }

    [Fact]
    public async Task Get_AppTimesOut_EntryWithinStaleIfErrorIsServed()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:ResponseTimeout"] = "00:00:00.5" });
        var slow = false;
        var respond = host.Respond(200, ("Cache-Control", "max-age=10, stale-if-error=300"));
        host.Upstream.Map("/slow", async context =>
        {
            if (slow)
            {
                await Task.Delay(TimeSpan.FromSeconds(3), context.RequestAborted);
            }

            await respond(context);
        });
        using var first = await host.GetAsync("/slow");
        slow = true;
        host.Time.Advance(TimeSpan.FromSeconds(30));

        using var stale = await host.GetAsync("/slow");

        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal("v1", stale.Body());
        Assert.Equal("ProxySidecar; fwd=stale; fwd-status=504; detail=stale-if-error", stale.CacheStatus());
    }

    [Fact]
    public async Task Get_CacheResult_IsAnnotatedOnTheRequestSpan()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/traced-cache", host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await host.GetAsync("/traced-cache");
        host.Time.Advance(TimeSpan.FromSeconds(3));
        using var second = await host.GetAsync("/traced-cache");

        // Other tests run in parallel: pick this test's span by the key hash of its URL.
        var hash = CacheKey.Hash($"https://{host.Sidecar.HttpsAddress.Authority}/traced-cache");
        bool Mine(Activity s) => s.GetTagItem("proxysidecar.cache.result") as string == "hit" && s.GetTagItem("proxysidecar.cache.key_hash") as string == hash;
        await CacheTestHost.EventuallyAsync(() => spans.Any(Mine), "the hit span was recorded");
        var hit = spans.First(Mine);
        Assert.Equal(16, hash.Length);
        Assert.InRange(Assert.IsType<long>(hit.GetTagItem("proxysidecar.cache.age")), 3L, 4L);
        Assert.InRange(Assert.IsType<long>(hit.GetTagItem("proxysidecar.cache.ttl")), 56L, 57L);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
