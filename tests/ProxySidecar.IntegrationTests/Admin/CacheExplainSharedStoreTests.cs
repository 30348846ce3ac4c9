using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.IntegrationTests.Caching.Stores;

namespace ProxySidecar.IntegrationTests.Admin;

/// <summary>/cache/explain with the Redis store and its first level, and with a token configured.</summary>
public sealed class CacheExplainSharedStoreTests
{
    private const string Url = "https://" + SharedCacheCluster.Host + "/page";

    [RedisFact]
    public async Task Explain_RedisWithFirstLevel_SaysWhereTheEntryIsHeldAndFillsNothing()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/page", async context =>
        {
            context.Response.Headers.CacheControl = "public, max-age=60";
            await context.Response.WriteAsync("page");
        });
        var a = await cluster.StartSidecarAsync(cluster.Settings(localCache: true));
        var b = await cluster.StartSidecarAsync(cluster.Settings(localCache: true));
        using (var client = a.CreateClient())
        using (await SharedCacheCluster.GetAsync(client, "/page"))
        {
        }

        await cluster.WaitForRedisEntriesAsync();

        var fromRedis = await ExplainAsync(b, SharedCacheCluster.PurgeToken);
        var firstLevelAfterExplain = await FirstLevelEntriesAsync(b);
        using (var client = b.CreateClient())
        using (var hit = await SharedCacheCluster.GetAsync(client, "/page"))
        {
            Assert.True(SharedCacheCluster.IsHit(hit));
        }

        var fromBoth = await ExplainAsync(b, SharedCacheCluster.PurgeToken);

        Assert.Equal("Redis", (string?)fromRedis["stored"]![0]!["heldIn"]);
        Assert.StartsWith("hit: a fresh stored response answers", (string?)fromRedis["decision"]!["text"], StringComparison.Ordinal);
        Assert.Equal(0, firstLevelAfterExplain);
        Assert.Equal("Redis, and this replica's first level (memory)", (string?)fromBoth["stored"]![0]!["heldIn"]);
        Assert.Equal(1, cluster.Upstream.Count);
    }

    [RedisFact]
    public async Task Explain_RedisDown_SaysTheSharedStoreIsSkipped()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/page", async context =>
        {
            context.Response.Headers.CacheControl = "public, max-age=60";
            await context.Response.WriteAsync("page");
        });
        var sidecar = await cluster.StartSidecarAsync(cluster.Settings());
        cluster.Redis!.Kill();

        // Requests find Redis gone until the breaker opens.
        using var client = sidecar.CreateClient();
        await sidecar.WaitForStatusAsync(
            s =>
            {
                using (SharedCacheCluster.GetAsync(client, "/page").GetAwaiter().GetResult())
                {
                }

                return (string?)s["sharedCache"]?["breaker"] == "open";
            },
            because: "the breaker opened");
        var explanation = await ExplainAsync(sidecar, SharedCacheCluster.PurgeToken);

        Assert.Equal("forward (uri-miss): nothing is stored for this URL", (string?)explanation["decision"]!["text"]);
        Assert.Contains(explanation["notes"]!.AsArray(), n => ((string)n!).StartsWith("the shared store (Redis) is failing (breaker open)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Explain_TokenConfigured_401WithoutItAnd200WithIt()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        var sidecar = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));

        using var admin = sidecar.CreateAdminClient();
        using var missing = await admin.GetAsync(new Uri("/cache/explain?url=" + Uri.EscapeDataString(Url), UriKind.Relative));
        var allowed = await ExplainAsync(sidecar, SharedCacheCluster.PurgeToken);

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("Bearer realm=\"proxysidecar-admin\"", missing.Headers.WwwAuthenticate.ToString());
        Assert.Equal("forward (uri-miss): nothing is stored for this URL", (string?)allowed["decision"]!["text"]);
    }

    private static async Task<JsonObject> ExplainAsync(SidecarHost sidecar, string token)
    {
        using var admin = sidecar.CreateAdminClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/cache/explain?url=" + Uri.EscapeDataString(Url), UriKind.Relative));
        request.Headers.Authorization = new("Bearer", token);
        using var response = await admin.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!.AsObject();
    }

    private static async Task<int> FirstLevelEntriesAsync(SidecarHost sidecar) =>
        (int)(await sidecar.GetStatusAsync())["sharedCache"]!["localCache"]!["entries"]!;
}
