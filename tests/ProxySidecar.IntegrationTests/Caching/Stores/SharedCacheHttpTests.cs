using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Caching.Stores.SharedCacheCluster;

namespace ProxySidecar.IntegrationTests.Caching.Stores;

/// <summary>Two sidecar replicas sharing one real redis-server, seen from clients over HTTPS.</summary>
public sealed class SharedCacheHttpTests
{
    [RedisFact]
    public async Task Get_StoredThroughReplicaA_IsAHitThroughReplicaB()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/page", Counting("max-age=60"));
        var a = await cluster.StartSidecarAsync(cluster.Settings());
        var b = await cluster.StartSidecarAsync(cluster.Settings());
        using var clientA = a.CreateClient();
        using var clientB = b.CreateClient();

        using var first = await GetAsync(clientA, "/page");
        await cluster.WaitForRedisEntriesAsync();
        using var second = await GetAsync(clientB, "/page");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.True(IsHit(second), CacheStatus(second));
        Assert.Equal("v1", await second.Content.ReadAsStringAsync());
        Assert.Equal(1, cluster.Upstream.Count);
    }

    [RedisFact]
    public async Task PurgeByTag_ThroughReplicaA_MissesThroughReplicaBEvenFromItsMemory()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/product/42", Counting("max-age=600", surrogateKey: "product-42 catalogue"));
        var (a, b) = await StartPairWithLongLivedFirstLevelAsync(cluster);
        using var clientA = a.CreateClient();
        using var clientB = b.CreateClient();
        await GetAsync(clientA, "/product/42");
        await cluster.WaitForRedisEntriesAsync();
        using var cached = await GetAsync(clientB, "/product/42");
        Assert.True(IsHit(cached), CacheStatus(cached));
        await WaitForLocalEntriesAsync(b, e => e > 0);

        using var purge = await PurgeAsync(a, "tag=product-42");

        Assert.Equal(HttpStatusCode.OK, purge.StatusCode);
        var purged = JsonNode.Parse(await purge.Content.ReadAsStringAsync())!["purged"]!;
        Assert.Equal("tag", purged["kind"]!.GetValue<string>());
        Assert.Equal("product-42", purged["target"]!.GetValue<string>());
        await WaitForLocalEntriesAsync(b, e => e == 0);
        using var after = await GetAsync(clientB, "/product/42");
        Assert.False(IsHit(after), CacheStatus(after));
        Assert.Equal("v2", await after.Content.ReadAsStringAsync());
    }

    [RedisFact]
    public async Task PurgeByUrl_ThroughReplicaA_MissesThroughReplicaBEvenFromItsMemory()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/article", Counting("max-age=600"));
        var (a, b) = await StartPairWithLongLivedFirstLevelAsync(cluster);
        using var clientA = a.CreateClient();
        using var clientB = b.CreateClient();
        await GetAsync(clientA, "/article?id=7");
        await cluster.WaitForRedisEntriesAsync();
        using var cached = await GetAsync(clientB, "/article?id=7");
        Assert.True(IsHit(cached), CacheStatus(cached));
        await WaitForLocalEntriesAsync(b, e => e > 0);

        using var purge = await PurgeAsync(a, "url=" + Uri.EscapeDataString($"https://{Host}/article?id=7"));

        Assert.Equal(HttpStatusCode.OK, purge.StatusCode);
        await WaitForLocalEntriesAsync(b, e => e == 0);
        using var after = await GetAsync(clientB, "/article?id=7");
        Assert.False(IsHit(after), CacheStatus(after));
        Assert.Equal("v2", await after.Content.ReadAsStringAsync());
    }

    [RedisFact]
    public async Task SoftPurge_ThroughReplicaA_ReplicaBServesStaleThenTheRefreshedResponse()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/news", Counting("max-age=600, stale-while-revalidate=600", surrogateKey: "news"));
        var (a, b) = await StartPairWithLongLivedFirstLevelAsync(cluster);
        using var clientA = a.CreateClient();
        using var clientB = b.CreateClient();
        await GetAsync(clientA, "/news");
        await cluster.WaitForRedisEntriesAsync();
        using var cached = await GetAsync(clientB, "/news");
        Assert.True(IsHit(cached), CacheStatus(cached));

        using var purge = await PurgeAsync(a, "tag=news&soft=true");
        Assert.Equal(HttpStatusCode.OK, purge.StatusCode);

        // B sees the purge marker within its marker cache time, then serves v1 as stale while it refreshes.
        var stale = await PollAsync(clientB, "/news", r => CacheStatus(r).Contains("stale-while-revalidate", StringComparison.Ordinal));
        Assert.Equal("v1", await stale.Content.ReadAsStringAsync());
        var refreshed = await PollAsync(clientB, "/news", r => IsHit(r) && r.Content.ReadAsStringAsync().Result != "v1");
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);

        // One refresh: a request that still read v1 while the refreshed copy was on its way does not refresh again.
        Assert.Equal("v2", await refreshed.Content.ReadAsStringAsync());
        Assert.Equal(2, cluster.Upstream.Count);
    }

    [RedisFact]
    public async Task SoftPurge_RefreshedCopyStillBeingWrittenToRedis_RequestsServeStaleWithoutRefreshingAgain()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/feed", Counting("max-age=600, stale-while-revalidate=600", surrogateKey: "feed"));
        var settings = cluster.Settings();

        // Entry writes are held below the breaker for as long as the test needs: let the breaker wait for them.
        settings["Sidecar:Cache:Redis:OperationTimeout"] = "00:00:20";
        var redis = new StockRedisStoreProbe();
        var a = await cluster.StartSidecarAsync(settings, redis.Wrap);
        using var client = a.CreateClient();
        using (await GetAsync(client, "/feed"))
        {
        }

        await cluster.WaitForRedisEntriesAsync();
        redis.CloseGate();
        try
        {
            using var purge = await PurgeAsync(a, "tag=feed&soft=true");
            Assert.Equal(HttpStatusCode.OK, purge.StatusCode);
            using var stale = await PollAsync(client, "/feed", r => CacheStatus(r).Contains("stale-while-revalidate", StringComparison.Ordinal));
            Assert.Equal("v1", await stale.Content.ReadAsStringAsync());

            // The refresh got v2 from the app and finished; its copy waits at the gate, so Redis still holds v1.
            await a.WaitForStatusAsync(
                s => s["cache"]?["refreshing"]?.GetValue<int>() == 0 && s["cache"]?["refreshes_started"]?.GetValue<long>() == 1,
                because: "the refresh finished");
            Assert.Equal(2, cluster.Upstream.Count);
            Assert.Equal(1, redis.HeldWrites);

            using var again = await GetAsync(client, "/feed");

            Assert.Contains("stale-while-revalidate", CacheStatus(again), StringComparison.Ordinal);
            Assert.Equal("v1", await again.Content.ReadAsStringAsync());
            var status = await a.GetStatusAsync();
            Assert.Equal(1, status["cache"]!["refreshes_started"]!.GetValue<long>());
        }
        finally
        {
            redis.OpenGate();
        }

        // A fresh hit (a stale one also starts with "hit"): the refreshed copy reached Redis.
        using var refreshed = await PollAsync(client, "/feed", r => IsHit(r) && !CacheStatus(r).Contains("stale", StringComparison.Ordinal));
        var body = await refreshed.Content.ReadAsStringAsync();
        Assert.True(body == "v2", $"{body} {CacheStatus(refreshed)} app requests: {cluster.Upstream.Count}, status: {(await a.GetStatusAsync())["cache"]}");
        Assert.Equal(2, cluster.Upstream.Count);
    }

    [RedisFact]
    public async Task Purge_WrongOrMissingToken_RefusedAndTheSharedEntryStaysAHit()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/kept", Counting("max-age=600", surrogateKey: "kept"));
        var a = await cluster.StartSidecarAsync(cluster.Settings());
        var b = await cluster.StartSidecarAsync(cluster.Settings());
        using var clientA = a.CreateClient();
        using var clientB = b.CreateClient();
        await GetAsync(clientA, "/kept");
        await cluster.WaitForRedisEntriesAsync();

        using var missing = await PurgeAsync(a, "tag=kept", token: null);
        using var wrong = await PurgeAsync(a, "tag=kept", token: "not-the-token-0123456789abcdef");
        using var wrongAll = await PurgeAsync(a, "all=true", token: PurgeToken + "x");

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongAll.StatusCode);
        Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);
        using var after = await GetAsync(clientB, "/kept");
        Assert.True(IsHit(after), CacheStatus(after));
        Assert.Equal(1, cluster.Upstream.Count);
    }

    [RedisFact]
    public async Task Purge_RedisDown_503SayingNothingIsKnownToBePurged()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        var a = await cluster.StartSidecarAsync(cluster.Settings());
        cluster.Redis!.Kill();
        await a.WaitForStatusAsync(s => s["sharedCache"]?["connected"]?.GetValue<bool>() == false, because: "Redis is gone");

        using var hard = await PurgeAsync(a, "tag=anything");
        using var soft = await PurgeAsync(a, "all=true&soft=true");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, hard.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, soft.StatusCode);
        Assert.Contains("try again", await soft.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("shared cache store (Redis) is unavailable", await hard.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("shared cache store (Redis) is unavailable", await soft.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static async Task<(SidecarHost A, SidecarHost B)> StartPairWithLongLivedFirstLevelAsync(SharedCacheCluster cluster)
    {
        // A first level that would keep entries for minutes: only the purge announcement can remove them in time.
        var settings = cluster.Settings(localCache: true);
        settings["Sidecar:Cache:Redis:LocalCache:MaxTimeToLive"] = "00:05:00";
        var a = await cluster.StartSidecarAsync(settings);
        var b = await cluster.StartSidecarAsync(settings);
        foreach (var sidecar in new[] { a, b })
        {
            await sidecar.WaitForStatusAsync(s => s["sharedCache"]?["purgeChannelSubscribed"]?.GetValue<bool>() == true, because: "listening for purges");
        }

        return (a, b);
    }

    private static Task<JsonObject> WaitForLocalEntriesAsync(SidecarHost sidecar, Func<int, bool> condition) =>
        sidecar.WaitForStatusAsync(s => condition(s["sharedCache"]?["localCache"]?["entries"]?.GetValue<int>() ?? -1), because: "first-level entries");

    private static async Task<HttpResponseMessage> PollAsync(HttpClient client, string path, Func<HttpResponseMessage, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            var response = await GetAsync(client, path);
            if (condition(response))
            {
                return response;
            }

            var seen = $"{(int)response.StatusCode} {CacheStatus(response)} {await response.Content.ReadAsStringAsync()}";
            response.Dispose();
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{path} never met the condition; last: {seen}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Answers 200 "v{n}" (n counts calls) with <paramref name="cacheControl"/> and optional Surrogate-Key.</summary>
    internal static RequestDelegate Counting(string cacheControl, string? surrogateKey = null)
    {
        var calls = 0;
        return async context =>
        {
            var n = Interlocked.Increment(ref calls);
            context.Response.Headers.CacheControl = cacheControl;
            if (surrogateKey is not null)
            {
                context.Response.Headers["Surrogate-Key"] = surrogateKey;
            }

            await context.Response.WriteAsync("v" + n);
        };
    }
}
