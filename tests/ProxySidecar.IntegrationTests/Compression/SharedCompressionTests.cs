using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Compression;
using ProxySidecar.IntegrationTests.Caching;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.IntegrationTests.Caching.Stores;
using static ProxySidecar.IntegrationTests.Compression.CompressionTestSupport;

namespace ProxySidecar.IntegrationTests.Compression;

/// <summary>With Redis, a representation one replica made is served by the others as it is stored.</summary>
public sealed class SharedCompressionTests
{
    [RedisFact]
    public async Task RepresentationMadeByReplicaA_IsServedByReplicaB_WithoutCompressingAgain()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Map("/page", Serve(Page, headers: [("Cache-Control", "max-age=600"), ("ETag", "\"s1\"")]));
        var a = await cluster.StartSidecarAsync(cluster.Settings());
        var b = await cluster.StartSidecarAsync(cluster.Settings());
        using var clientA = a.CreateClient();
        using var clientB = b.CreateClient();

        using (var miss = await GetAsync(clientA, "/page", acceptEncoding: null))
        {
            Assert.Null(miss.Coding());
        }

        await cluster.WaitForRedisEntriesAsync();
        using (var first = await GetAsync(clientA, "/page"))
        {
            Assert.True(SharedCacheCluster.IsHit(first), SharedCacheCluster.CacheStatus(first));
            Assert.Equal("br", first.Coding());
        }

        await cluster.Redis!.WaitForKeysAsync("test:__MSOCV_psc1:z:*");
        for (var i = 0; i < 3; i++)
        {
            using var hit = await GetAsync(clientB, "/page");
            Assert.True(SharedCacheCluster.IsHit(hit), SharedCacheCluster.CacheStatus(hit));
            Assert.Equal("br", hit.Coding());
            Assert.Equal(Page, hit.Decoded());
            Assert.Equal("\"s1-br\"", hit.Tag()!.Tag);
        }

        Assert.Equal(1, a.Services.GetRequiredService<CompressionMetrics>().StoredEncodes);
        Assert.Equal(0, b.Services.GetRequiredService<CompressionMetrics>().StoredEncodes);
        Assert.Equal(3, b.Services.GetRequiredService<CompressionMetrics>().StoredResponses);
        Assert.Equal(1, cluster.Upstream.Count);
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, string? acceptEncoding = "br, gzip")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        request.Headers.Host = SharedCacheCluster.Host;
        if (acceptEncoding is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
        }

        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }
}
