using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;
using ProxySidecar.IntegrationTests.Caching;

namespace ProxySidecar.IntegrationTests.Admin;

/// <summary>
/// A sidecar whose cache holds a response of every kind the explanation talks about, all stored at one moment of
/// the cache's (fake) clock, which then moved on 10 s; one URL soft-purged at that moment.
/// </summary>
public sealed class ExplainFixture : IAsyncLifetime
{
    public CacheTestHost Host { get; private set; } = null!;

    /// <summary>When /soft/page was soft-purged, as the explanation writes it.</summary>
    public string SoftPurgedAt { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        Host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Cache:Rules:0:Name"] = "static",
            ["Sidecar:Cache:Rules:0:Path"] = "/static/**",
            ["Sidecar:Cache:Rules:0:DefaultTtl"] = "00:10:00",
            ["Sidecar:Cache:Rules:1:Name"] = "api",
            ["Sidecar:Cache:Rules:1:Path"] = "/api/**",
            ["Sidecar:Cache:Rules:1:Bypass"] = "true",
            ["Sidecar:Cache:Rules:2:Name"] = "anon",
            ["Sidecar:Cache:Rules:2:Path"] = "/anon/**",
            ["Sidecar:Cache:Rules:2:IgnoreCookies:0"] = "_ga*",
        });
        var h = Host;

        // On a whole second, so a response's Date (whole seconds) is the moment it is stored, and ages are exact.
        h.Time.Advance(TimeSpan.FromTicks(TimeSpan.TicksPerSecond - (h.Time.GetUtcNow().UtcTicks % TimeSpan.TicksPerSecond)));
        h.Upstream.Map("/static/app.css", h.Respond(200, ("Cache-Control", "max-age=60"), ("ETag", "\"s1\"")));
        h.Upstream.Map("/public/page", h.Respond(200, ("Cache-Control", "public, max-age=60")));
        h.Upstream.Map("/vary/page", h.Respond(200, ("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")));
        h.Upstream.Map("/nocache", h.Respond(200, ("Cache-Control", "no-cache"), ("ETag", "\"n1\"")));
        h.Upstream.Map("/swr", h.Respond(200, ("Cache-Control", "max-age=1, stale-while-revalidate=30")));
        h.Upstream.Map("/mr", h.Respond(200, ("Cache-Control", "max-age=1, must-revalidate"), ("ETag", "\"m1\"")));
        h.Upstream.Map("/plain", h.Respond(200, ("Cache-Control", "max-age=1")));
        h.Upstream.Map("/anon/page", h.Respond(200, ("Cache-Control", "max-age=60")));
        h.Upstream.Map("/soft/page", h.Respond(200, ("Cache-Control", "max-age=60"), ("ETag", "\"p1\"")));
        h.Upstream.Map("/uncacheable", h.Respond(200, ("Cache-Control", "no-store")));

        foreach (var path in new[] { "/static/app.css", "/public/page", "/swr", "/mr", "/plain", "/anon/page", "/soft/page" })
        {
            await h.WaitUntilStoredAsync(path);
        }

        await h.WaitUntilStoredAsync("/vary/page", r => r.Headers.Add("Accept-Language", "en"));
        using (await h.GetAsync("/uncacheable"))
        {
        }

        // A no-cache entry is never a hit: it is stored once a later request revalidates it (fwd=stale).
        await CacheTestHost.EventuallyAsync(() => h.GetAsync("/nocache").GetAwaiter().GetResult().CacheStatus().Contains("fwd=stale", StringComparison.Ordinal), "/nocache stored");

        var purger = h.Sidecar.Services.GetRequiredService<IHttpCachePurger>();
        await purger.PurgeUrlAsync(new Uri(h.Sidecar.HttpsAddress, "/soft/page"), soft: true, CancellationToken.None);
        SoftPurgedAt = h.Time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        h.Time.Advance(TimeSpan.FromSeconds(10));
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>GET /cache/explain: for a URL and request headers, the decision the cache would take, in words.</summary>
public sealed class CacheExplainTests(ExplainFixture fixture) : IClassFixture<ExplainFixture>
{
    private readonly CacheTestHost _host = fixture.Host;

    /// <summary>
    /// The table: a path, request headers ("Name: value", separated by |), extra query parameters, and the decision
    /// text expected (every entry is 10 s old; {soft} is when /soft/page was soft-purged).
    /// </summary>
    [Theory]
    [InlineData("GET", "/static/app.css", "", "", "hit: a fresh stored response answers (age 10 s, fresh for 50 s more)")]
    [InlineData("HEAD", "/static/app.css", "", "", "hit: a fresh stored response answers (age 10 s, fresh for 50 s more)")]
    [InlineData("GET", "/static/app.css", "Cookie: session=alice", "", "forward: request carries Cookie and the response is not explicitly public")]
    [InlineData("GET", "/static/app.css", "Authorization: Bearer abc", "", "forward: request carries Authorization and the response does not allow reuse for it (public, s-maxage or must-revalidate)")]
    [InlineData("GET", "/static/app.css", "Cookie: session=alice|Authorization: Bearer abc", "", "forward: request carries Cookie and Authorization and the response is not explicitly public")]
    [InlineData("GET", "/static/app.css", "", "&clientCertificate=true", "forward: request carries a client certificate and the response is not explicitly public")]
    [InlineData("GET", "/public/page", "Cookie: session=alice", "", "hit: a fresh stored response answers (age 10 s, fresh for 50 s more)")]
    [InlineData("GET", "/anon/page", "Cookie: _ga=GA1.2.3", "", "hit: a fresh stored response answers (age 10 s, fresh for 50 s more)")]
    [InlineData("GET", "/anon/page", "Cookie: _ga=GA1.2.3; session=alice", "", "forward: request carries Cookie and the response is not explicitly public")]
    [InlineData("GET", "/static/never-asked", "", "", "forward (uri-miss): nothing is stored for this URL")]
    [InlineData("GET", "/api/items", "", "", "bypass: rule \"api\" sends every request for this path to the app (Bypass)")]
    [InlineData("GET", "/vary/page", "Accept-Language: en", "", "hit: a fresh stored response answers (age 10 s, fresh for 50 s more)")]
    [InlineData("GET", "/vary/page", "Accept-Language: de", "", "forward (vary-miss): responses for this URL vary on accept-language; none is stored for this request's values")]
    [InlineData("GET", "/nocache", "", "", "revalidate: the stored response says no-cache, so the app confirms each use; the app is asked with If-None-Match: \"n1\" and a 304 freshens it")]
    [InlineData("GET", "/static/app.css", "Cache-Control: no-cache", "", "revalidate: the request says no-cache, so the app confirms the stored response before it is used; the app is asked with If-None-Match: \"s1\" and a 304 freshens it")]
    [InlineData("GET", "/static/app.css", "Pragma: no-cache", "", "revalidate: the request says no-cache, so the app confirms the stored response before it is used; the app is asked with If-None-Match: \"s1\" and a 304 freshens it")]
    [InlineData("GET", "/static/app.css", "Cache-Control: max-age=5", "", "revalidate: the request's max-age=5 refuses a stored response 10 s old; the app is asked with If-None-Match: \"s1\" and a 304 freshens it")]
    [InlineData("GET", "/static/app.css", "Cache-Control: min-fresh=55", "", "revalidate: the request's min-fresh=55 wants more than the 50 s of freshness left; the app is asked with If-None-Match: \"s1\" and a 304 freshens it")]
    [InlineData("GET", "/swr", "", "", "stale-while-revalidate: the stored response answers 9 s past its freshness (stale-while-revalidate=30) while the app is asked for a new one in the background")]
    [InlineData("GET", "/mr", "", "", "revalidate: the stored response is stale (9 s past its freshness) and says must-revalidate, so it is never served stale; the app is asked with If-None-Match: \"m1\" and a 304 freshens it")]
    [InlineData("GET", "/plain", "", "", "revalidate: the stored response is stale (9 s past its freshness); it has no validator, so the app sends a full response")]
    [InlineData("GET", "/plain", "Cache-Control: max-stale=60", "", "stale: the stored response answers 9 s past its freshness, within the request's max-stale=60")]
    [InlineData("GET", "/static/never-asked", "Cache-Control: only-if-cached", "", "504: the request says only-if-cached and nothing stored may answer it")]
    [InlineData("GET", "/soft/page", "", "", "revalidate: the stored response was soft-purged at {soft}, so it is stale; the app is asked with If-None-Match: \"p1\" and a 304 freshens it")]
    [InlineData("POST", "/static/app.css", "", "", "bypass (method): only GET and HEAD are answered from the cache; POST goes to the app, and when the app answers 2xx or 3xx the URL's stored responses are invalidated")]
    public async Task Explain_UrlAndHeaders_SaysWhatTheCacheWouldDoAndWhy(string method, string path, string headers, string extra, string expected)
    {
        var explanation = await ExplainAsync(path, headers, method, extra);

        Assert.Equal(expected.Replace("{soft}", fixture.SoftPurgedAt, StringComparison.Ordinal), (string?)explanation["decision"]!["text"]);
    }

    [Fact]
    public async Task Explain_TheTextIsWhatTheCacheThenDoes()
    {
        // The same requests, sent: the explanation's action is the cache's result.
        var cases = new (string Path, string Header, string Expected)[]
        {
            ("/static/app.css", "", "ProxySidecar; hit"),
            ("/static/app.css", "Cookie: session=bob", "ProxySidecar; fwd=request"),
            ("/vary/page", "Accept-Language: fr", "ProxySidecar; fwd=vary-miss"),
            ("/api/items", "", "ProxySidecar; fwd=bypass"),
        };
        foreach (var (path, header, expected) in cases)
        {
            var explanation = await ExplainAsync(path, header);
            using var response = await _host.GetAsync(path, r =>
            {
                if (header.Length > 0)
                {
                    r.Headers.TryAddWithoutValidation(header[..header.IndexOf(':', StringComparison.Ordinal)], header[(header.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim());
                }
            });

            Assert.StartsWith(expected, response.CacheStatus(), StringComparison.Ordinal);
            var action = (string)explanation["decision"]!["action"]!;
            Assert.Equal(expected.Contains("hit", StringComparison.Ordinal) ? "hit" : expected.Contains("bypass", StringComparison.Ordinal) ? "bypass" : "forward", action);
        }
    }

    [Fact]
    public async Task Explain_VariedUrl_ListsTheVaryRecordAndTheSelectedVariantWithFreshnessValidatorsAndWhereItIsHeld()
    {
        var explanation = await ExplainAsync("/vary/page", "Accept-Language: en");

        var url = new Uri(_host.Sidecar.HttpsAddress, "/vary/page").ToString();
        Assert.Equal(url, (string?)explanation["primaryKey"]);
        Assert.Equal("(none)", (string?)explanation["rule"]!["name"]);
        var stored = explanation["stored"]!.AsArray();
        Assert.Equal(2, stored.Count);
        Assert.Equal("vary", (string?)stored[0]!["kind"]);
        Assert.Equal("psc1:e:" + url, (string?)stored[0]!["storeKey"]);
        Assert.Equal("accept-language", (string?)stored[0]!["varyNames"]![0]);
        var variant = stored[1]!;
        Assert.Equal("response", (string?)variant["kind"]);
        Assert.Equal((string?)explanation["vary"]!["variantKey"], (string?)variant["storeKey"]);
        Assert.Equal("memory store", (string?)variant["heldIn"]);
        Assert.Equal(200, (int)variant["status"]!);
        Assert.Equal(10, (long)variant["ageSeconds"]!);
        Assert.Equal(60, (long)variant["freshnessLifetimeSeconds"]!);
        Assert.Equal(50, (long)variant["ttlSeconds"]!);
        Assert.True((bool)variant["fresh"]!);
        Assert.StartsWith("not explicitly shared", (string?)variant["sharing"], StringComparison.Ordinal);

        var validated = await ExplainAsync("/static/app.css");
        var entry = validated["stored"]!.AsArray().Single()!;
        Assert.Equal("\"s1\"", (string?)entry["etag"]);
        Assert.Equal("static", (string?)validated["rule"]!["name"]);
        Assert.Equal(600, (long)validated["rule"]!["defaultTtlSeconds"]!);
    }

    [Fact]
    public async Task Explain_NotesSayWhatElseMatters()
    {
        var ignored = await ExplainAsync("/anon/page", "Cookie: _ga=GA1.2.3");
        var personal = await ExplainAsync("/static/never-asked", "Cookie: session=alice");
        var uncacheable = await ExplainAsync("/uncacheable");

        Assert.Contains("the request's cookies are ignored under rule \"anon\" (IgnoreCookies), so they do not make it personal", Notes(ignored));
        Assert.Contains("the request carries Cookie: the app's response is stored only if it is explicitly public (public, s-maxage or the targeted field)", Notes(personal));
        Assert.Equal(["cookie"], personal["credentials"]!.AsArray().Select(c => (string?)c));
        Assert.Contains(Notes(uncacheable), n => n.StartsWith("the app's last response for this URL could not be shared (hit-for-miss", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Explain_NeverContactsTheAppNorChangesTheCache()
    {
        var services = _host.Sidecar.Services;
        var occupancy = services.GetRequiredService<ICacheOccupancy>();
        var refresher = services.GetRequiredService<BackgroundRefresher>();
        var (appBefore, entriesBefore, bytesBefore, refreshesBefore) = (_host.Upstream.Count, occupancy.Entries, occupancy.Bytes, refresher.Started);

        // Among them a stale-while-revalidate entry (the cache would refresh it), a no-cache one (it would revalidate)
        // and a miss (it would forward and store).
        foreach (var path in new[] { "/swr", "/nocache", "/static/never-asked", "/mr", "/soft/page", "/vary/page" })
        {
            await ExplainAsync(path);
        }

        Assert.Equal(appBefore, _host.Upstream.Count);
        Assert.Equal(entriesBefore, occupancy.Entries);
        Assert.Equal(bytesBefore, occupancy.Bytes);
        Assert.Equal(refreshesBefore, refresher.Started);
    }

    [Fact]
    public async Task Explain_JsonBody_IsTheSameAsQueryParameters()
    {
        using var admin = _host.Sidecar.CreateAdminClient();
        var url = new Uri(_host.Sidecar.HttpsAddress, "/static/app.css").ToString();
        var json = new JsonObject { ["url"] = url, ["headers"] = new JsonObject { ["Cookie"] = "session=alice" } }.ToJsonString();
        using var body = new StringContent(json, Encoding.UTF8, "application/json");

        using var response = await admin.PostAsync(new Uri("/cache/explain", UriKind.Relative), body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var explanation = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("forward: request carries Cookie and the response is not explicitly public", (string?)explanation["decision"]!["text"]);
    }

    [Theory]
    [InlineData("", "Name the URL to explain")]
    [InlineData("url=/relative", "url must be an absolute http(s) URL")]
    [InlineData("url=https%3A%2F%2Fa.example%2F&header=NoColon", "header must be written as curl's -H")]
    [InlineData("url=https%3A%2F%2Fa.example%2F&method=G%20T", "method must be an HTTP method")]
    public async Task Explain_BadParameters_400SayingWhatToSend(string query, string expected)
    {
        using var admin = _host.Sidecar.CreateAdminClient();
        using var response = await admin.GetAsync(new Uri("/cache/explain?" + query, UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_OnThePublicPort_IsForwardedToTheApp()
    {
        using var response = await _host.GetAsync("/cache/explain?url=https%3A%2F%2Fa.example%2F");

        Assert.Equal("upstream:/cache/explain", response.Body());
    }

    private static List<string> Notes(JsonObject explanation) => [.. explanation["notes"]!.AsArray().Select(n => (string)n!)];

    private async Task<JsonObject> ExplainAsync(string path, string headers = "", string method = "GET", string extra = "")
    {
        var url = new Uri(_host.Sidecar.HttpsAddress, path).ToString();
        var query = new StringBuilder("url=").Append(Uri.EscapeDataString(url)).Append("&method=").Append(method).Append(extra);
        foreach (var header in headers.Split('|', StringSplitOptions.RemoveEmptyEntries))
        {
            query.Append("&header=").Append(Uri.EscapeDataString(header));
        }

        using var admin = _host.Sidecar.CreateAdminClient();
        using var response = await admin.GetAsync(new Uri("/cache/explain?" + query, UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!.AsObject();
    }
}
