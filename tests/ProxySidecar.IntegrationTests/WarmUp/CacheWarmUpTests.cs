using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Caching;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.WarmUp;

/// <summary>POST /cache/warm: URLs (or a sitemap's) fetched through the cache at a bounded concurrency, with a summary.</summary>
public sealed class CacheWarmUpTests
{
    /// <summary>The host clients use (not the address the test connects to): the warm-up sends it as each request's Host, so the entries it stores are theirs.</summary>
    private const string Site = "https://localhost";

    [Theory]
    [InlineData(3, null)]
    [InlineData(4, 2)]
    public async Task Warm_TwelveUrls_TheAppSeesAtMostTheConcurrencyAtOnceAndEveryUrlIsThenAHit(int configured, int? asked)
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:WarmUp:Concurrency"] = configured.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var limit = asked ?? configured;
        var inFlight = 0;
        var highest = 0;
        var full = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Upstream.Fallback = async context =>
        {
            var now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref highest, now);

            // The first requests wait until the limit is reached, so the warm-up is seen to fill it; then the app is
            // slow (a fixed time per request, not a wait for anything), so a warm-up sending more would be seen too.
            if (now >= limit)
            {
                full.TrySetResult();
            }

            await full.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await Task.Delay(TimeSpan.FromMilliseconds(200));
            Interlocked.Decrement(ref inFlight);
            context.Response.Headers.CacheControl = "max-age=60";
            await context.Response.WriteAsync("page " + context.Request.Path);
        };
        var urls = Enumerable.Range(0, 12).Select(i => $"{Site}/products/{i}").ToArray();
        var body = new JsonObject { ["urls"] = new JsonArray([.. urls.Select(u => (JsonNode)u)]) };
        if (asked is { } concurrency)
        {
            body["concurrency"] = concurrency;
        }

        var summary = await WarmAsync(host, body);

        Assert.Equal(limit, Volatile.Read(ref highest));
        Assert.Equal(12, host.Upstream.Count);
        Assert.Equal(12, (int)summary["stored"]!);
        Assert.Equal(0, (int)summary["failed"]! + (int)summary["notCacheable"]! + (int)summary["notFetched"]!);
        Assert.All(host.Upstream.Received, r => Assert.Equal("localhost", r.Header("Host")));
        Assert.All(host.Upstream.Received, r => Assert.StartsWith("ProxySidecar-WarmUp/", r.Header("User-Agent"), StringComparison.Ordinal));
        for (var i = 0; i < urls.Length; i++)
        {
            using var response = await host.GetAsync($"/products/{i}", r => r.Headers.Host = "localhost");
            Assert.StartsWith("ProxySidecar; hit", response.CacheStatus(), StringComparison.Ordinal);
        }

        Assert.Equal(12, host.Upstream.Count);
    }

    [Fact]
    public async Task Warm_Summary_CountsStoredAlreadyCachedNotCacheableAndFailed_WithProgressInTheLogs()
    {
        var logs = new CapturedLogs();
        await using var host = await CacheTestHost.StartAsync(configureServices: logs.AddTo);
        host.Upstream.Map("/ok", host.Respond(200, ("Cache-Control", "max-age=60")));
        host.Upstream.Map("/cached", host.Respond(200, ("Cache-Control", "max-age=60")));
        host.Upstream.Map("/personal", host.Respond(200, ("Cache-Control", "private")));
        host.Upstream.Map("/broken", host.Respond(500));
        await host.WaitUntilStoredAsync("/cached", r => r.Headers.Host = "localhost");

        var summary = await WarmAsync(host, new JsonObject
        {
            ["urls"] = new JsonArray($"{Site}/ok", $"{Site}/cached", $"{Site}/personal", $"{Site}/broken"),
        });

        Assert.Equal((1, 1, 1, 1, 0), ((int)summary["stored"]!, (int)summary["alreadyCached"]!, (int)summary["notCacheable"]!, (int)summary["failed"]!, (int)summary["notFetched"]!));
        var results = summary["urls"]!.AsArray().ToDictionary(u => (string)u!["url"]!, u => u!);
        Assert.Equal("stored", (string?)results[$"{Site}/ok"]["outcome"]);
        Assert.Equal("already-cached", (string?)results[$"{Site}/cached"]["outcome"]);
        Assert.Equal("not-cacheable", (string?)results[$"{Site}/personal"]["outcome"]);
        Assert.Contains("detail=private", (string?)results[$"{Site}/personal"]["cacheStatus"], StringComparison.Ordinal);
        Assert.Equal("failed", (string?)results[$"{Site}/broken"]["outcome"]);
        Assert.Equal(500, (int)results[$"{Site}/broken"]["status"]!);

        var progress = logs.Entries.Where(e => e.EventId.Id == 902).ToList();
        Assert.NotEmpty(progress);
        Assert.Equal("Cache warm-up: 4 of 4 URLs fetched (1 stored, 1 already cached, 1 not cacheable, 1 failed).", progress[^1].Message);
        Assert.Contains(logs.Entries, e => e.EventId.Id == 903 && e.Message.StartsWith("Cache warm-up (admin) finished: 1 stored, 1 already cached, 1 not cacheable, 1 failed, 0 not fetched", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Warm_SitemapIndex_WarmsTheLocsOfItsSitemaps()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/sitemap.xml", Xml($"""
            <?xml version="1.0" encoding="UTF-8"?>
            <sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
              <sitemap><loc>{Site}/sitemap-pages.xml</loc><lastmod>2026-01-01</lastmod></sitemap>
            </sitemapindex>
            """));
        host.Upstream.Map("/sitemap-pages.xml", Xml($"""
            <?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
              <url><loc>{Site}/a</loc><lastmod>2026-01-01</lastmod></url>
              <url><loc> {Site}/b </loc></url>
              <url><loc>{Site}/c?x=1&amp;y=2</loc></url>
            </urlset>
            """));
        host.Upstream.Fallback = host.Respond(200, ("Cache-Control", "max-age=60"));

        var summary = await WarmAsync(host, new JsonObject { ["sitemap"] = $"{Site}/sitemap.xml" });

        Assert.Equal(3, (int)summary["stored"]!);
        Assert.Equal([$"{Site}/a", $"{Site}/b", $"{Site}/c?x=1&y=2"], summary["urls"]!.AsArray().Select(u => (string)u!["url"]!).Order(StringComparer.Ordinal));
        Assert.Equal(["/a", "/b", "/c"], host.Upstream.Received.Select(r => r.Path).Where(p => !p.EndsWith(".xml", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Warm_SitemapAboveMaxUrls_WarmsOnlyMaxUrls()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:WarmUp:MaxUrls"] = "2" });
        var locs = string.Concat(Enumerable.Range(0, 5).Select(i => $"<url><loc>{Site}/p{i}</loc></url>"));
        host.Upstream.Map("/sitemap.xml", Xml($"<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">{locs}</urlset>"));
        host.Upstream.Fallback = host.Respond(200, ("Cache-Control", "max-age=60"));

        var summary = await WarmAsync(host, new JsonObject { ["sitemap"] = $"{Site}/sitemap.xml" });

        Assert.Equal(2, (int)summary["total"]!);
        Assert.Equal(3, host.Upstream.Count);
    }

    [Fact]
    public async Task Warm_WhileAnotherRuns_409()
    {
        await using var host = await CacheTestHost.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Upstream.Map("/slow", async context =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await context.Response.WriteAsync("slow");
        });
        var first = WarmAsync(host, new JsonObject { ["urls"] = new JsonArray($"{Site}/slow") });
        await CacheTestHost.EventuallyAsync(() => host.Upstream.Count == 1, "the first warm-up reached the app");

        using var second = await PostAsync(host, new JsonObject { ["urls"] = new JsonArray($"{Site}/other") });
        release.SetResult();
        await first;

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains("already running", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(host.Upstream.Received, r => r.Path == "/other");
    }

    [Theory]
    [InlineData("{}", "Name what to warm")]
    [InlineData("{\"urls\":[\"/relative\"]}", "is not an absolute https URL")]
    [InlineData("{\"urls\":[\"http://www.example.test/\"]}", "is not an absolute https URL")]
    [InlineData("{\"urls\":[\"https://localhost/\"],\"concurrency\":0}", "concurrency must be 1 to 64")]
    [InlineData("{\"urls\":[\"https://localhost/\"],\"headers\":{\"Cookie\":\"a=b\"}}", "Cookie is refused")]
    [InlineData("{\"urls\":", "The body is not valid JSON")]
    public async Task Warm_BadRequest_400SayingWhatToSend(string json, string expected)
    {
        await using var host = await CacheTestHost.StartAsync();
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var admin = host.Sidecar.CreateAdminClient();

        using var response = await admin.PostAsync(new Uri("/cache/warm", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, host.Upstream.Count);
    }

    [Fact]
    public async Task Warm_TokenConfigured_401WithoutItAndNothingFetched()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Admin:PurgeToken"] = "warm-up-token-0123456789" });

        using var refused = await PostAsync(host, new JsonObject { ["urls"] = new JsonArray($"{Site}/a") });
        using var wrong = await PostAsync(host, new JsonObject { ["urls"] = new JsonArray($"{Site}/a") }, token: "warm-up-token-0123456780");
        using var allowed = await PostAsync(host, new JsonObject { ["urls"] = new JsonArray($"{Site}/a") }, token: "warm-up-token-0123456789");

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(1, host.Upstream.Count);
    }

    [Fact]
    public async Task Warm_QueryParameters_AreAcceptedLikeABody()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Fallback = host.Respond(200, ("Cache-Control", "max-age=60"));
        using var admin = host.Sidecar.CreateAdminClient();

        using var response = await admin.PostAsync(new Uri($"/cache/warm?url={Uri.EscapeDataString(Site + "/x")}&url={Uri.EscapeDataString(Site + "/y")}&concurrency=1", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, (int)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["stored"]!);
    }

    private static RequestDelegate Xml(string xml) => async context =>
    {
        context.Response.ContentType = "application/xml";
        await context.Response.WriteAsync(xml);
    };

    private static async Task<JsonObject> WarmAsync(CacheTestHost host, JsonObject body)
    {
        using var response = await PostAsync(host, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!.AsObject();
    }

    private static async Task<HttpResponseMessage> PostAsync(CacheTestHost host, JsonObject body, string? token = null)
    {
        using var admin = host.Sidecar.CreateAdminClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/cache/warm", UriKind.Relative))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }

        var response = await admin.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
