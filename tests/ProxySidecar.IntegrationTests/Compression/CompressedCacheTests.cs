using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Compression;
using ProxySidecar.IntegrationTests.Caching;
using static ProxySidecar.IntegrationTests.Compression.CompressionTestSupport;

namespace ProxySidecar.IntegrationTests.Compression;

/// <summary>
/// Cache-aware compression through real TLS: a stored entry is compressed once per coding, on the first hit that asks
/// for it, and every later hit is served the stored compressed bytes; validators and lengths describe what is sent.
/// </summary>
public sealed class CompressedCacheTests
{
    [Fact]
    public async Task StoredEntry_CompressedOnce_ThenEveryHitServedWithoutCompressing()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/page", Serve(Page, headers: [("Cache-Control", "max-age=600"), ("ETag", "\"p1\"")]));
        var metrics = host.Sidecar.Services.GetRequiredService<CompressionMetrics>();
        var memory = host.Sidecar.Services.GetRequiredService<MemoryCacheStore>();
        await host.WaitUntilStoredAsync("/page");
        var bytesBefore = memory.Bytes;

        const int Hits = 25;
        var lengths = new List<long>();
        for (var i = 0; i < Hits; i++)
        {
            using var hit = await host.GetAsync("/page", AcceptBrotliAndGzip);
            Assert.StartsWith("ProxySidecar; hit", hit.CacheStatus(), StringComparison.Ordinal);
            Assert.Equal("br", hit.Coding());
            Assert.Equal(Page, hit.Decoded());
            Assert.Equal(hit.BodyLength(), hit.Length());
            Assert.Equal("\"p1-br\"", hit.Tag()!.Tag);
            Assert.Equal("Accept-Encoding", hit.VaryText());
            lengths.Add(hit.BodyLength());
        }

        Assert.Equal(1, metrics.StoredEncodes);
        Assert.Equal(Hits, metrics.StoredResponses);
        Assert.Equal(1, host.Hits("/page"));
        Assert.Single(lengths.Distinct());
        Assert.True(lengths[0] < Page.Length / 4, $"{lengths[0]} bytes for {Page.Length}");

        // The representation is held in the store, charged as it is stored.
        Assert.True(memory.Bytes - bytesBefore > lengths[0], $"{memory.Bytes - bytesBefore} bytes charged for a {lengths[0]}-byte representation");

        // gzip is a representation of its own: compressed once too.
        for (var i = 0; i < 5; i++)
        {
            using var gzip = await host.GetAsync("/page", Accept("gzip"));
            Assert.Equal("gzip", gzip.Coding());
            Assert.Equal(Page, gzip.Decoded());
            Assert.Equal("\"p1-gzip\"", gzip.Tag()!.Tag);
        }

        Assert.Equal(2, metrics.StoredEncodes);
        Assert.Equal(0, metrics.StreamedEncodes);
    }

    [Fact]
    public async Task Miss_ClientAcceptsBrotli_IsCompressedAsItStreams_AndTheStoredEntryStaysTheAppsBytes()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/miss", Serve(Page, headers: [("Cache-Control", "max-age=600")]));
        var metrics = host.Sidecar.Services.GetRequiredService<CompressionMetrics>();

        using var miss = await host.GetAsync("/miss", AcceptBrotliAndGzip);
        await host.WaitUntilStoredAsync("/miss");
        using var identity = await host.GetAsync("/miss");

        Assert.Contains("fwd=uri-miss", miss.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("br", miss.Coding());
        Assert.Equal(Page, miss.Decoded());
        Assert.False(miss.Content.Headers.NonValidated.Contains("Content-Length"));
        Assert.Equal(1, metrics.StreamedEncodes);
        Assert.Null(identity.Coding());
        Assert.Equal(Page, identity.Body());
        Assert.Equal(Page.Length, identity.Length());
        Assert.Equal("Accept-Encoding", identity.VaryText());
    }

    [Fact]
    public async Task AppsVary_KeepsItsNames_AndGainsAcceptEncoding()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/vary", Serve(Page, headers: [("Cache-Control", "max-age=600"), ("Vary", "Accept-Language")]));

        await host.WaitUntilStoredAsync("/vary");
        using var hit = await host.GetAsync("/vary", AcceptBrotliAndGzip);

        Assert.Equal("br", hit.Coding());
        Assert.Equal(["Accept-Language", "Accept-Encoding"], hit.Headers.Vary.ToArray());
    }

    [Fact]
    public async Task WeakETag_IsKept()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/weak", Serve(Page, headers: [("Cache-Control", "max-age=600"), ("ETag", "W/\"w1\"")]));

        await host.WaitUntilStoredAsync("/weak");
        using var hit = await host.GetAsync("/weak", AcceptBrotliAndGzip);

        Assert.Equal("br", hit.Coding());
        Assert.Equal(new EntityTagHeaderValue("\"w1\"", isWeak: true), hit.Tag());
    }

    [Fact]
    public async Task ClientValidatorOfTheCompressedRepresentation_Gets304_NamingIt()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/etag", Serve(Page, headers: [("Cache-Control", "max-age=600"), ("ETag", "\"e1\"")]));
        await host.WaitUntilStoredAsync("/etag");

        using var compressed = await host.GetAsync("/etag", Accept("br", r => r.Headers.TryAddWithoutValidation("If-None-Match", "\"e1-br\"")));
        using var identity = await host.GetAsync("/etag", Accept("br", r => r.Headers.TryAddWithoutValidation("If-None-Match", "\"e1\"")));
        using var other = await host.GetAsync("/etag", Accept("br", r => r.Headers.TryAddWithoutValidation("If-None-Match", "\"e0-br\"")));

        Assert.Equal(HttpStatusCode.NotModified, compressed.StatusCode);
        Assert.Equal("\"e1-br\"", compressed.Tag()!.Tag);
        Assert.Equal(HttpStatusCode.NotModified, identity.StatusCode);
        Assert.Equal("\"e1\"", identity.Tag()!.Tag);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(Page, other.Decoded());
        Assert.Equal(1, host.Hits("/etag"));
    }

    [Fact]
    public async Task Revalidation_UsesTheAppsValidators_AndTheStoredRepresentationOutlivesIt()
    {
        await using var host = await CacheTestHost.StartAsync();
        var conditional = new List<string?>();
        host.Upstream.Map("/reval", async context =>
        {
            conditional.Add(context.Request.Headers.IfNoneMatch.ToString());
            context.Response.Headers.Date = host.HttpDate(TimeSpan.Zero);
            context.Response.Headers.CacheControl = "max-age=10";
            context.Response.Headers.ETag = "\"r1\"";
            if (context.Request.Headers.IfNoneMatch == "\"r1\"")
            {
                context.Response.StatusCode = 304;
                return;
            }

            await Serve(Page)(context);
        });
        var metrics = host.Sidecar.Services.GetRequiredService<CompressionMetrics>();
        await host.WaitUntilStoredAsync("/reval");
        using (var first = await host.GetAsync("/reval", AcceptBrotliAndGzip))
        {
            Assert.Equal("br", first.Coding());
        }

        host.Time.Advance(TimeSpan.FromSeconds(20));
        using var revalidated = await host.GetAsync("/reval", Accept("br", r => r.Headers.TryAddWithoutValidation("If-None-Match", "\"r0-br\"")));
        await host.WaitUntilStoredAsync("/reval");
        using var after = await host.GetAsync("/reval", AcceptBrotliAndGzip);

        Assert.Contains("fwd=stale; fwd-status=304", revalidated.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("\"r1\"", conditional[^1]);
        Assert.Equal("br", revalidated.Coding());
        Assert.Equal(Page, revalidated.Decoded());
        Assert.Equal("\"r1-br\"", revalidated.Tag()!.Tag);
        Assert.StartsWith("ProxySidecar; hit", after.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(Page, after.Decoded());
        Assert.Equal(1, metrics.StoredEncodes);
    }

    [Fact]
    public async Task SharedEntry_ServedToARequestWithCredentials_IsCompressed()
    {
        // An entry that may answer requests with credentials was explicitly shared: it holds nothing secret to one user.
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/public", Serve(Page, headers: [("Cache-Control", "public, max-age=600")]));
        await host.WaitUntilStoredAsync("/public");

        using var hit = await host.GetAsync("/public", Accept("br", r => r.Headers.TryAddWithoutValidation("Cookie", "session=alice")));

        Assert.StartsWith("ProxySidecar; hit", hit.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("br", hit.Coding());
        Assert.Equal(Page, hit.Decoded());
    }

    [Fact]
    public async Task PurgeOfTheUrl_RemovesItsCompressedRepresentationToo()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/purged", Serve(Page, headers: [("Cache-Control", "max-age=600")]));
        var metrics = host.Sidecar.Services.GetRequiredService<CompressionMetrics>();
        var store = host.Sidecar.Services.GetRequiredService<IOutputCacheStore>();
        await host.WaitUntilStoredAsync("/purged");
        using (var hit = await host.GetAsync("/purged", AcceptBrotliAndGzip))
        {
            Assert.Equal("br", hit.Coding());
        }

        var url = new Uri(host.Sidecar.HttpsAddress, "/purged");
        var primary = CacheKey.PrimaryFor(url, host.Sidecar.Services.GetRequiredService<ProxySidecar.Caching.Rules.CachePolicyProvider>().Current);
        var key = CacheKey.EncodedStoreKey(primary, string.Empty, "br", CacheKey.Fingerprint(System.Text.Encoding.UTF8.GetBytes(Page)));
        Assert.NotNull(await store.GetAsync(key, CancellationToken.None));

        await host.Sidecar.Services.GetRequiredService<IHttpCachePurger>().PurgeUrlAsync(url, soft: false, CancellationToken.None);

        Assert.Null(await store.GetAsync(key, CancellationToken.None));
        Assert.Equal(1, metrics.StoredEncodes);
    }
}
