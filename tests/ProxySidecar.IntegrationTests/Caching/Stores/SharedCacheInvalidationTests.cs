using System.Net;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Caching.Stores.SharedCacheCluster;

namespace ProxySidecar.IntegrationTests.Caching.Stores;

/// <summary>
/// Invalidation after unsafe requests, purges and purge announcements while a real redis-server is healthy,
/// hung (SIGSTOP) or gone.
/// </summary>
public sealed class SharedCacheInvalidationTests
{
    [RedisFact]
    public async Task Post_RedisHungAndBreakerOpen_AnsweredWithoutWaitingForRedisAndCountedAsEvictErrors()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/orders", Orders());
        var settings = cluster.Settings();

        // Timeouts long enough that a request waiting on the hung Redis would outlast the client's patience,
        // and a breaker that stays open once it opened.
        settings["Sidecar:Cache:StoreTimeout"] = "00:01:00";
        settings["Sidecar:Cache:Redis:PurgeTimeout"] = "00:01:00";
        settings["Sidecar:Cache:Redis:Breaker:MinimumThroughput"] = "2";
        settings["Sidecar:Cache:Redis:Breaker:SamplingDuration"] = "00:00:30";
        settings["Sidecar:Cache:Redis:Breaker:BreakDuration"] = "00:10:00";
        var redisCalls = new StockRedisStoreProbe();
        var a = await cluster.StartSidecarAsync(settings, redisCalls.Wrap);
        using var client = a.CreateClient();
        client.Timeout = TimeSpan.FromSeconds(20);

        // While Redis answers, both targets of an unsafe request are evicted there.
        using (var healthy = await PostOrderAsync(client))
        {
            Assert.Equal(HttpStatusCode.Created, healthy.StatusCode);
        }

        await WaitUntilAsync(() => redisCalls.Evictions == 2, "both targets evicted in Redis");

        cluster.Redis!.Pause();
        try
        {
            // Reads time out (one operation timeout each) until the breaker opens.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while ((await a.GetStatusAsync())["sharedCache"]?["breaker"]?.GetValue<string>() != "open")
            {
                Assert.True(DateTime.UtcNow < deadline, "the breaker never opened");
                using var read = await GetAsync(client, "/orders");
                Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            }

            var before = (await a.GetStatusAsync())["sharedCache"]!["errors"]!["evict"]!.GetValue<long>();
            var evictionsBefore = redisCalls.Evictions;

            // Two targets: the request URL and the same-origin Location.
            using var created = await PostOrderAsync(client);

            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            Assert.Equal("created", await created.Content.ReadAsStringAsync());
            var status = await a.WaitForStatusAsync(
                s => s["sharedCache"]?["errors"]?["evict"]?.GetValue<long>() == before + 2,
                because: "each skipped invalidation counts as one eviction error");
            Assert.Equal("open", status["sharedCache"]!["breaker"]!.GetValue<string>());
            Assert.Equal(evictionsBefore, redisCalls.Evictions);
        }
        finally
        {
            cluster.Redis.Resume();
        }
    }

    [RedisFact]
    public async Task Post_ThroughReplicaA_RemovesTheEntryFromRedisAndFromReplicaBsMemory()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/basket", SharedCacheHttpTests.Counting("max-age=600"));
        var settings = cluster.Settings(localCache: true);
        settings["Sidecar:Cache:Redis:LocalCache:MaxTimeToLive"] = "00:05:00";
        var a = await cluster.StartSidecarAsync(settings);
        var b = await cluster.StartSidecarAsync(settings);
        await b.WaitForStatusAsync(s => s["sharedCache"]?["purgeChannelSubscribed"]?.GetValue<bool>() == true, because: "B listens for purges");
        using var clientA = a.CreateClient();
        using var clientB = b.CreateClient();
        using (await GetAsync(clientA, "/basket"))
        {
        }

        await cluster.WaitForRedisEntriesAsync();
        using var cached = await GetAsync(clientB, "/basket");
        Assert.True(IsHit(cached), CacheStatus(cached));
        await b.WaitForStatusAsync(s => s["sharedCache"]?["localCache"]?["entries"]?.GetValue<int>() > 0, because: "B keeps the entry in memory");

        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri("/basket", UriKind.Relative)) { Content = new StringContent("item=1") };
        post.Headers.Host = Host;
        using var posted = await clientA.SendAsync(post);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);

        // B's copy would live five minutes in memory; only the announcement removes it.
        await b.WaitForStatusAsync(s => s["sharedCache"]?["localCache"]?["entries"]?.GetValue<int>() == 0, because: "the invalidation is announced");
        using var after = await GetAsync(clientB, "/basket");
        Assert.False(IsHit(after), CacheStatus(after));
        Assert.Equal(0, (await a.GetStatusAsync())["sharedCache"]!["errors"]!["evict"]!.GetValue<long>());
    }

    [RedisFact]
    public async Task Purge_RedisHung_503NamingTheSharedStoreAndNothingPurged()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        var settings = cluster.Settings();
        settings["Sidecar:Cache:Redis:PurgeTimeout"] = "00:00:02";
        var a = await cluster.StartSidecarAsync(settings);

        cluster.Redis!.Pause();
        try
        {
            using var hard = await PurgeAsync(a, "tag=anything");
            using var soft = await PurgeAsync(a, "url=" + Uri.EscapeDataString($"https://{Host}/x") + "&soft=true");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, hard.StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, soft.StatusCode);
            foreach (var body in new[] { await hard.Content.ReadAsStringAsync(), await soft.Content.ReadAsStringAsync() })
            {
                Assert.Contains("shared cache store (Redis) is unavailable", body, StringComparison.Ordinal);
                Assert.Contains("Nothing is known to be purged", body, StringComparison.Ordinal);
            }

            Assert.Equal("application/json", hard.Content.Headers.ContentType!.MediaType);
        }
        finally
        {
            cluster.Redis.Resume();
        }
    }

    [RedisFact]
    public async Task Status_RedisKilledThenRestarted_PurgeChannelSubscribedFollowsTheConnection()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        var a = await cluster.StartSidecarAsync(cluster.Settings(localCache: true));
        await a.WaitForStatusAsync(s => s["sharedCache"]?["purgeChannelSubscribed"]?.GetValue<bool>() == true, because: "listening for purges");

        cluster.Redis!.Kill();
        await a.WaitForStatusAsync(s => s["sharedCache"]?["purgeChannelSubscribed"]?.GetValue<bool>() == false, because: "the pub/sub connection is gone");

        await cluster.Redis.RestartAsync();
        await a.WaitForStatusAsync(s => s["sharedCache"]?["purgeChannelSubscribed"]?.GetValue<bool>() == true, because: "the pub/sub connection is back");
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "never happened: " + what);
            await Task.Delay(20);
        }
    }

    private static async Task<HttpResponseMessage> PostOrderAsync(HttpClient client)
    {
        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri("/orders", UriKind.Relative)) { Content = new StringContent("{}") };
        post.Headers.Host = Host;
        var response = await client.SendAsync(post);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>GET: a cacheable list; POST: 201 with a same-origin Location.</summary>
    private static RequestDelegate Orders() => async context =>
    {
        if (HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status201Created;
            context.Response.Headers.Location = "/orders/7";
            await context.Response.WriteAsync("created");
            return;
        }

        context.Response.Headers.CacheControl = "max-age=600";
        await context.Response.WriteAsync("orders");
    };
}
