using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using ProxySidecar.WarmUp;

namespace ProxySidecar.Tests.WarmUp;

public sealed class WarmUpTests
{
    [Theory]
    [InlineData(200, "ProxySidecar; fwd=uri-miss; fwd-status=200; stored", "Stored")]
    [InlineData(200, "ProxySidecar; fwd=stale; fwd-status=304; stored", "Stored")]
    [InlineData(200, "ProxySidecar; hit; ttl=59", "AlreadyCached")]
    [InlineData(200, "ProxySidecar; hit; ttl=-2; detail=stale-while-revalidate", "AlreadyCached")]
    [InlineData(200, "ProxySidecar; fwd=uri-miss; fwd-status=200; detail=private", "NotCacheable")]
    [InlineData(404, "ProxySidecar; fwd=uri-miss; fwd-status=404", "NotCacheable")]
    [InlineData(200, "ProxySidecar; fwd=bypass", "NotCacheable")]
    [InlineData(200, null, "NotCacheable")]
    [InlineData(503, "ProxySidecar; fwd=uri-miss; fwd-status=503", "Failed")]
    [InlineData(200, "ProxySidecar; fwd=stale; fwd-status=503; detail=stale-if-error", "Failed")]
    [InlineData(502, null, "Failed")]
    [InlineData(429, null, "Failed")]
    public void Classify_ByTheSidecarsCacheStatus(int status, string? cacheStatus, string expected) =>
        Assert.Equal(Enum.Parse<WarmUpOutcome>(expected), CacheWarmer.Classify(status, cacheStatus));

    [Fact]
    public void Progress_WorkersReportingOutOfOrder_TheLastLineIsTheFinalCount()
    {
        var progress = new WarmUpProgress("admin", DateTimeOffset.UnixEpoch);
        progress.Start(4);
        var reported = new List<(int Done, int Stored, int AlreadyCached, int NotCacheable, int Failed)>();
        progress.Done(WarmUpOutcome.Stored);
        progress.Done(WarmUpOutcome.AlreadyCached);
        var third = progress.Done(WarmUpOutcome.NotCacheable);
        var fourth = progress.Done(WarmUpOutcome.Failed);

        // The worker that finished fourth reports before the one that finished third.
        progress.Report(fourth, c => reported.Add((fourth, c.Stored, c.AlreadyCached, c.NotCacheable, c.Failed)));
        progress.Report(third, c => reported.Add((third, c.Stored, c.AlreadyCached, c.NotCacheable, c.Failed)));

        Assert.Equal([(4, 1, 1, 1, 1)], reported);
    }

    [Fact]
    public void OwnCacheStatus_PicksThisCachesMemberOfTheList()
    {
        using var response = new HttpResponseMessage();
        response.Headers.TryAddWithoutValidation("Cache-Status", "AppCache; hit, ProxySidecar; fwd=uri-miss; fwd-status=200; stored");

        Assert.Equal("ProxySidecar; fwd=uri-miss; fwd-status=200; stored", CacheWarmer.OwnCacheStatus(response, "ProxySidecar"));
        Assert.Null(CacheWarmer.OwnCacheStatus(response, "Proxy"));
    }

    [Fact]
    public async Task Sitemap_UrlSet_ReadsEveryLocTrimmed()
    {
        var (kind, locations) = await ReadAsync("""
            <?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
              <url><loc> https://a.example/1 </loc><lastmod>2030-01-01</lastmod><image:image><image:loc>https://a.example/i.png</image:loc></image:image></url>
              <url><lastmod>2030-01-01</lastmod><loc>https://a.example/2?x=1&amp;y=2</loc></url>
              <url><loc></loc></url>
            </urlset>
            """);

        Assert.Equal(SitemapKind.UrlSet, kind);
        Assert.Equal(["https://a.example/1", "https://a.example/2?x=1&y=2"], locations);
    }

    [Fact]
    public async Task Sitemap_Index_ReadsItsSitemaps()
    {
        var (kind, locations) = await ReadAsync("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"><sitemap><loc>https://a.example/s1.xml</loc></sitemap></sitemapindex>");

        Assert.Equal(SitemapKind.Index, kind);
        Assert.Equal(["https://a.example/s1.xml"], locations);
    }

    [Theory]
    [InlineData("<html><body>not a sitemap</body></html>", "<html> is not the root of a sitemap")]
    [InlineData("", "Root element is missing")]
    public async Task Sitemap_NotASitemap_Throws(string xml, string expected)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ReadAsync(xml));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sitemap_WithADocumentTypeDefinition_IsRefused()
    {
        const string xml = """
            <?xml version="1.0"?>
            <!DOCTYPE urlset [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
            <urlset><url><loc>https://a.example/&b;</loc></url></urlset>
            """;

        await Assert.ThrowsAsync<System.Xml.XmlException>(() => ReadAsync(xml));
    }

    [Fact]
    public void Validate_CollectsEveryErrorWithItsKey()
    {
        var options = new WarmUpOptions { Concurrency = 0, MaxUrls = 1, Timeout = TimeSpan.Zero, Sitemap = "/sitemap.xml" };
        options.Urls.Add("https://a.example/ok");
        options.Urls.Add("http://a.example/plain");

        var failures = new WarmUpOptionsValidator().Validate(null, options).Failures!.ToList();

        Assert.Contains(failures, f => f.StartsWith("Sidecar:WarmUp:Urls:1: \"http://a.example/plain\" is not an absolute https URL", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Sidecar:WarmUp:Sitemap: \"/sitemap.xml\" is not an absolute https URL", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Sidecar:WarmUp:Concurrency: 0 is out of range", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Sidecar:WarmUp:Urls: 2 URLs are more than MaxUrls (1)", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Sidecar:WarmUp:Timeout: 00:00:00 is out of range", StringComparison.Ordinal));
        Assert.True(new WarmUpOptionsValidator().Validate(null, new WarmUpOptions()).Succeeded);
    }

    [Fact]
    public void Parse_QueryAndBody_AddUpAndTheConfiguredBoundsApply()
    {
        var query = new QueryCollection(new Dictionary<string, StringValues> { ["url"] = new(["https://a.example/1", "https://a.example/2"]) });
        var body = new WarmUpBody(["https://a.example/3"], "https://a.example/sitemap.xml", null, new() { ["Accept-Encoding"] = "gzip" });

        var plan = WarmUpEndpoint.Parse(query, body, new WarmUpOptions { Concurrency = 7, MaxUrls = 50 }, out var problem);

        Assert.Null(problem);
        Assert.Equal(["https://a.example/1", "https://a.example/2", "https://a.example/3"], plan!.Urls.Select(u => u.AbsoluteUri));
        Assert.Equal("https://a.example/sitemap.xml", plan.Sitemap!.AbsoluteUri);
        Assert.Equal((7, 50, "admin"), (plan.Concurrency, plan.MaxUrls, plan.Trigger));
        Assert.Equal([new KeyValuePair<string, string>("Accept-Encoding", "gzip")], plan.Headers);
    }

    [Fact]
    public void Parse_MoreUrlsThanMaxUrls_IsRefused()
    {
        var body = new WarmUpBody(["https://a.example/1", "https://a.example/2"], null, null, null);

        Assert.Null(WarmUpEndpoint.Parse(QueryCollection.Empty, body, new WarmUpOptions { MaxUrls = 1 }, out var problem));
        Assert.Equal("2 URLs are more than Sidecar:WarmUp:MaxUrls (1).", problem);
    }

    private static Task<(SitemapKind Kind, List<string> Locations)> ReadAsync(string xml) =>
        Sitemap.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes(xml)), CancellationToken.None);
}
