using System.Net;
using System.Net.Http.Headers;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>What is stored, freshness, keys, Vary and validation, through real TLS against a counting app.</summary>
public sealed class CacheSemanticsTests(CacheHostFixture fixture) : IClassFixture<CacheHostFixture>
{
    private readonly CacheTestHost _host = fixture.Host;

    private async Task<(HttpResponseMessage First, HttpResponseMessage Second)> TwiceAsync(string path, Action<HttpRequestMessage>? configure = null)
    {
        var first = await _host.GetAsync(path, configure);
        var second = await _host.GetAsync(path, configure);
        return (first, second);
    }

    [Fact]
    public async Task Get_ResponseNoStore_IsNotStored()
    {
        _host.Upstream.Map("/s/no-store", _host.Respond(200, ("Cache-Control", "no-store, max-age=60")));
        var (first, second) = await TwiceAsync("/s/no-store");
        Assert.Equal("v2", second.Body());
        Assert.Equal(2, _host.Hits("/s/no-store"));
        Assert.Contains("detail=no-store", second.CacheStatus(), StringComparison.Ordinal);
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Get_ResponsePrivate_IsNeverServedToAnotherClient()
    {
        _host.Upstream.Map("/s/private", async context =>
        {
            context.Response.Headers.CacheControl = "private, max-age=60";
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "for " + context.Request.Headers.Cookie);
        });
        using var alice = await _host.GetAsync("/s/private", r => r.Headers.Add("Cookie", "user=alice"));
        using var bob = await _host.GetAsync("/s/private", r => r.Headers.Add("Cookie", "user=bob"));
        Assert.Equal("for user=alice", alice.Body());
        Assert.Equal("for user=bob", bob.Body());
        Assert.Contains("detail=private", bob.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_WithAuthorization_IsNotStoredWithoutPublic()
    {
        _host.Upstream.Map("/s/auth", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "for " + context.Request.Headers.Authorization);
        });
        using var alice = await _host.GetAsync("/s/auth", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "alice"));
        using var bob = await _host.GetAsync("/s/auth", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "bob"));
        Assert.Equal("for Bearer alice", alice.Body());
        Assert.Equal("for Bearer bob", bob.Body());
        Assert.Contains("detail=authorization", bob.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_WithAuthorizationAndPublic_IsStored()
    {
        _host.Upstream.Map("/s/auth-public", _host.Respond(200, ("Cache-Control", "public, max-age=60")));
        var (first, second) = await TwiceAsync("/s/auth-public", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "x"));
        Assert.Equal("v1", second.Body());
        Assert.Equal(1, _host.Hits("/s/auth-public"));
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Get_WithAuthorization_IsNotAnsweredFromAnEntryStoredWithoutPublic()
    {
        _host.Upstream.Map("/s/auth-reuse", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            context.Response.Headers.Date = _host.HttpDate(TimeSpan.Zero);
            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "for '" + context.Request.Headers.Authorization + "'");
        });
        using var anonymous = await _host.GetAsync("/s/auth-reuse");
        using var alice = await _host.GetAsync("/s/auth-reuse", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "alice"));
        using var anonymous2 = await _host.GetAsync("/s/auth-reuse");
        Assert.Equal("for 'Bearer alice'", alice.Body());
        Assert.Equal("for ''", anonymous2.Body());
        Assert.StartsWith("ProxySidecar; hit", anonymous2.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(2, _host.Hits("/s/auth-reuse"));
    }

    [Fact]
    public async Task Get_ResponseWithSetCookie_IsNotStoredWithoutRule()
    {
        _host.Upstream.Map("/s/cookie", _host.Respond(200, ("Cache-Control", "max-age=60"), ("Set-Cookie", "session=secret")));
        var (first, second) = await TwiceAsync("/s/cookie");
        Assert.Equal("v2", second.Body());
        Assert.Equal("session=secret", second.Header("Set-Cookie"));
        Assert.Contains("detail=set-cookie", second.CacheStatus(), StringComparison.Ordinal);
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Get_VaryStar_IsNotStored()
    {
        _host.Upstream.Map("/s/vary-star", _host.Respond(200, ("Cache-Control", "max-age=60"), ("Vary", "*")));
        var (first, second) = await TwiceAsync("/s/vary-star");
        Assert.Equal(2, _host.Hits("/s/vary-star"));
        Assert.Contains("detail=vary-star", second.CacheStatus(), StringComparison.Ordinal);
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Get_Status404WithMaxAge_IsStored()
    {
        _host.Upstream.Map("/s/404", _host.Respond(404, ("Cache-Control", "max-age=60")));
        var (first, second) = await TwiceAsync("/s/404");
        Assert.Equal(HttpStatusCode.NotFound, second.StatusCode);
        Assert.Equal(1, _host.Hits("/s/404"));
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Get_Status500WithoutExplicitFreshness_IsNotStoredEvenWithLastModified()
    {
        _host.Upstream.Map("/s/500", _host.Respond(500, ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")));
        var (first, second) = await TwiceAsync("/s/500");
        Assert.Equal(2, _host.Hits("/s/500"));
        Assert.Contains("detail=status", second.CacheStatus(), StringComparison.Ordinal);
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Get_Status302WithExplicitMaxAge_IsStored()
    {
        _host.Upstream.Map("/s/302", _host.Respond(302, ("Cache-Control", "max-age=60"), ("Location", "/elsewhere")));
        var (first, second) = await TwiceAsync("/s/302");
        Assert.Equal(HttpStatusCode.Found, second.StatusCode);
        Assert.Equal(1, _host.Hits("/s/302"));
        first.Dispose();
        second.Dispose();
    }

    [Fact]
    public async Task Head_AfterGet_IsAnsweredFromTheGetEntry()
    {
        _host.Upstream.Map("/s/head", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var get = await _host.GetAsync("/s/head");
        using var head = await _host.SendAsync(HttpMethod.Head, "/s/head");
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(2, head.Content.Headers.ContentLength);
        Assert.StartsWith("ProxySidecar; hit", head.CacheStatus(), StringComparison.Ordinal);
        Assert.Single(_host.Upstream.Received, r => r.Path == "/s/head");
    }

    [Fact]
    public async Task Head_Miss_IsForwardedAsHeadAndNotStored()
    {
        _host.Upstream.Map("/s/head-miss", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var head = await _host.SendAsync(HttpMethod.Head, "/s/head-miss");
        using var get = await _host.GetAsync("/s/head-miss");
        Assert.Equal(["HEAD", "GET"], _host.Upstream.Received.Where(r => r.Path == "/s/head-miss").Select(r => r.Method));
        Assert.Contains("fwd=uri-miss", get.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_SharedMaxAge_WinsOverMaxAge()
    {
        _host.Upstream.Map("/f/s-maxage", _host.Respond(200, ("Cache-Control", "max-age=600, s-maxage=5")));
        using var first = await _host.GetAsync("/f/s-maxage");
        _host.Time.Advance(TimeSpan.FromSeconds(6));
        using var second = await _host.GetAsync("/f/s-maxage");
        Assert.Equal("v2", second.Body());
    }

    [Fact]
    public async Task Get_ExpiresMinusDate_GivesFreshness()
    {
        _host.Upstream.Map("/f/expires", context => _host.Respond(200, ("Expires", _host.HttpDate(TimeSpan.FromSeconds(30))))(context));
        using var first = await _host.GetAsync("/f/expires");
        _host.Time.Advance(TimeSpan.FromSeconds(20));
        using var fresh = await _host.GetAsync("/f/expires");
        _host.Time.Advance(TimeSpan.FromSeconds(20));
        using var stale = await _host.GetAsync("/f/expires");
        Assert.Equal(["v1", "v1"], [first.Body(), fresh.Body()]);
        Assert.Equal(2, _host.Hits("/f/expires"));
    }

    [Fact]
    public async Task Get_AppAgeCounts_TowardsCurrentAge()
    {
        _host.Upstream.Map("/f/age", _host.Respond(200, ("Cache-Control", "max-age=60"), ("Age", "50")));
        using var first = await _host.GetAsync("/f/age");
        _host.Time.Advance(TimeSpan.FromSeconds(5));
        using var hit = await _host.GetAsync("/f/age");
        _host.Time.Advance(TimeSpan.FromSeconds(10));
        using var stale = await _host.GetAsync("/f/age");
        Assert.Equal("v1", hit.Body());
        Assert.True(int.Parse(hit.Header("Age")!, System.Globalization.CultureInfo.InvariantCulture) >= 55);
        Assert.Equal("v2", stale.Body());
    }

    [Fact]
    public async Task Get_DateAndOtherHeaders_AreKeptAsTheAppSentThem()
    {
        var date = _host.HttpDate(TimeSpan.FromSeconds(-3));
        _host.Upstream.Map("/f/date", _host.Respond(200, ("Cache-Control", "max-age=60"), ("Date", date), ("X-App", "a1"), ("ETag", "\"e1\"")));
        using var first = await _host.GetAsync("/f/date");
        _host.Time.Advance(TimeSpan.FromSeconds(5));
        using var hit = await _host.GetAsync("/f/date");
        Assert.Equal(date, hit.Headers.Date!.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("a1", hit.Header("X-App"));
        Assert.Equal("\"e1\"", hit.Header("ETag"));
        Assert.Equal("8", hit.Header("Age"));
    }

    [Fact]
    public async Task Get_HeuristicFreshness_FromLastModifiedIsBoundedByHeuristicMaxAge()
    {
        // Last-Modified 30 days ago: 10% would be 3 days; the default bound is one hour.
        _host.Upstream.Map("/f/heuristic", context => _host.Respond(200, ("Last-Modified", _host.HttpDate(TimeSpan.FromDays(-30))))(context));
        using var first = await _host.GetAsync("/f/heuristic");
        _host.Time.Advance(TimeSpan.FromMinutes(50));
        using var fresh = await _host.GetAsync("/f/heuristic");
        _host.Time.Advance(TimeSpan.FromMinutes(20));
        using var stale = await _host.GetAsync("/f/heuristic");
        Assert.Equal("v1", fresh.Body());
        Assert.Equal(2, _host.Hits("/f/heuristic"));
    }

    [Fact]
    public async Task Get_PathIsCaseSensitive_HostIsNot()
    {
        _host.Upstream.Fallback = _host.Respond(200, ("Cache-Control", "max-age=60"));
        using var lower = await _host.GetAsync("/k/item");
        using var upper = await _host.GetAsync("/k/Item");
        var port = _host.Sidecar.HttpsAddress.Port;
        using var upperHost = await _host.GetAsync("/k/item", r => r.Headers.Host = "LOCALHOST:" + port);
        using var lowerHost = await _host.GetAsync("/k/item", r => r.Headers.Host = "localhost:" + port);
        Assert.Equal(1, _host.Hits("/k/Item"));
        Assert.StartsWith("ProxySidecar; hit", lowerHost.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(upperHost.Body(), lowerHost.Body());
    }

    [Fact]
    public async Task Get_QueryStringIsPartOfTheKey()
    {
        _host.Upstream.Map("/k/query", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var a = await _host.GetAsync("/k/query?a=1");
        using var b = await _host.GetAsync("/k/query?a=2");
        using var a2 = await _host.GetAsync("/k/query?a=1");
        Assert.Equal(["v1", "v2", "v1"], [a.Body(), b.Body(), a2.Body()]);
    }

    [Fact]
    public async Task Get_Vary_KeepsOneVariantPerNormalisedHeaderValue()
    {
        _host.Upstream.Map("/v/enc", _host.Respond(200, ("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")));
        using var gzipBr = await _host.GetAsync("/v/enc", r => r.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, br"));
        using var identity = await _host.GetAsync("/v/enc", r => r.Headers.TryAddWithoutValidation("Accept-Encoding", "identity"));
        using var brGzip = await _host.GetAsync("/v/enc", r => r.Headers.TryAddWithoutValidation("Accept-Encoding", "br,gzip"));
        using var identity2 = await _host.GetAsync("/v/enc", r => r.Headers.TryAddWithoutValidation("Accept-Encoding", "identity"));
        Assert.Equal(["v1", "v2", "v1", "v2"], [gzipBr.Body(), identity.Body(), brGzip.Body(), identity2.Body()]);
        Assert.Contains("fwd=vary-miss", identity.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ClientIfNoneMatch_IsAnswered304FromAFreshEntry()
    {
        _host.Upstream.Map("/c/inm", _host.Respond(200, ("Cache-Control", "max-age=60"), ("ETag", "\"abc\"")));
        using var first = await _host.GetAsync("/c/inm");
        using var conditional = await _host.GetAsync("/c/inm", r => r.Headers.TryAddWithoutValidation("If-None-Match", "W/\"abc\""));
        Assert.Equal(HttpStatusCode.NotModified, conditional.StatusCode);
        Assert.Equal("\"abc\"", conditional.Header("ETag"));
        Assert.Equal(1, _host.Hits("/c/inm"));
    }

    [Fact]
    public async Task Get_ClientIfModifiedSince_IsAnswered304FromAFreshEntry()
    {
        _host.Upstream.Map("/c/ims", _host.Respond(200, ("Cache-Control", "max-age=60"), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")));
        using var first = await _host.GetAsync("/c/ims");
        using var conditional = await _host.GetAsync("/c/ims", r => r.Headers.TryAddWithoutValidation("If-Modified-Since", "Tue, 02 Jan 2024 00:00:00 GMT"));
        using var older = await _host.GetAsync("/c/ims", r => r.Headers.TryAddWithoutValidation("If-Modified-Since", "Sun, 31 Dec 2023 00:00:00 GMT"));
        Assert.Equal(HttpStatusCode.NotModified, conditional.StatusCode);
        Assert.Equal(HttpStatusCode.OK, older.StatusCode);
        Assert.Equal(1, _host.Hits("/c/ims"));
    }

    [Fact]
    public async Task Get_StaleEntryWithETag_IsRevalidatedAnd304FreshensIt()
    {
        var calls = 0;
        _host.Upstream.Map("/c/revalidate", async context =>
        {
            calls++;
            context.Response.Headers.Date = _host.HttpDate(TimeSpan.Zero);
            context.Response.Headers.ETag = "\"r1\"";
            context.Response.Headers.CacheControl = "max-age=10";
            context.Response.Headers["X-Version"] = "call" + calls;
            if (context.Request.Headers.IfNoneMatch == "\"r1\"")
            {
                context.Response.StatusCode = 304;
                return;
            }

            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "body-r1");
        });
        using var first = await _host.GetAsync("/c/revalidate");
        _host.Time.Advance(TimeSpan.FromSeconds(15));
        using var revalidated = await _host.GetAsync("/c/revalidate");
        _host.Time.Advance(TimeSpan.FromSeconds(5));
        using var hit = await _host.GetAsync("/c/revalidate");

        Assert.Equal(HttpStatusCode.OK, revalidated.StatusCode);
        Assert.Equal("body-r1", revalidated.Body());
        Assert.Equal("ProxySidecar; fwd=stale; fwd-status=304; stored", revalidated.CacheStatus());
        Assert.Equal("call2", revalidated.Header("X-Version"));
        Assert.Equal("\"r1\"", _host.Upstream.Received.Last(r => r.Path == "/c/revalidate").Header("If-None-Match"));
        Assert.Equal("body-r1", hit.Body());
        Assert.StartsWith("ProxySidecar; hit", hit.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(2, _host.Hits("/c/revalidate"));
    }

    [Fact]
    public async Task Get_StaleEntry_AppAnswers200_ReplacesIt()
    {
        _host.Upstream.Map("/c/replace", _host.Respond(200, ("Cache-Control", "max-age=10"), ("ETag", "\"changes\"")));
        using var first = await _host.GetAsync("/c/replace");
        _host.Time.Advance(TimeSpan.FromSeconds(15));
        using var replaced = await _host.GetAsync("/c/replace");
        using var hit = await _host.GetAsync("/c/replace");
        Assert.Equal(["v1", "v2", "v2"], [first.Body(), replaced.Body(), hit.Body()]);
        Assert.Contains("fwd=stale; fwd-status=200; stored", replaced.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ResponseNoCache_IsStoredButAlwaysRevalidated()
    {
        _host.Upstream.Map("/c/no-cache", async context =>
        {
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers.ETag = "\"nc\"";
            if (context.Request.Headers.IfNoneMatch == "\"nc\"")
            {
                context.Response.StatusCode = 304;
                return;
            }

            await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "nc-body");
        });
        using var first = await _host.GetAsync("/c/no-cache");
        using var second = await _host.GetAsync("/c/no-cache");
        Assert.Equal("nc-body", second.Body());
        Assert.Contains("fwd-status=304", second.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(2, _host.Hits("/c/no-cache"));
    }

    [Fact]
    public async Task Get_MustRevalidate_ForbidsServingStaleEvenWithMaxStale()
    {
        _host.Upstream.Map("/c/must", _host.Respond(200, ("Cache-Control", "max-age=10, must-revalidate")));
        _host.Upstream.Map("/c/may", _host.Respond(200, ("Cache-Control", "max-age=10")));
        using var must1 = await _host.GetAsync("/c/must");
        using var may1 = await _host.GetAsync("/c/may");
        _host.Time.Advance(TimeSpan.FromSeconds(15));
        using var must2 = await _host.GetAsync("/c/must", r => r.Headers.TryAddWithoutValidation("Cache-Control", "max-stale=60"));
        using var may2 = await _host.GetAsync("/c/may", r => r.Headers.TryAddWithoutValidation("Cache-Control", "max-stale=60"));
        Assert.Equal("v2", must2.Body());
        Assert.Equal("v1", may2.Body());
        Assert.Contains("detail=max-stale", may2.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_RequestNoCache_GoesToTheAppWithFwdRequest()
    {
        _host.Upstream.Map("/r/no-cache", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await _host.GetAsync("/r/no-cache");
        using var second = await _host.GetAsync("/r/no-cache", r => r.Headers.CacheControl = new CacheControlHeaderValue { NoCache = true });
        Assert.Equal("v2", second.Body());
        Assert.Contains("fwd=request", second.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_PragmaNoCacheWithoutCacheControl_GoesToTheApp()
    {
        _host.Upstream.Map("/r/pragma", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await _host.GetAsync("/r/pragma");
        using var second = await _host.GetAsync("/r/pragma", r => r.Headers.TryAddWithoutValidation("Pragma", "no-cache"));
        using var third = await _host.GetAsync("/r/pragma", r =>
        {
            r.Headers.TryAddWithoutValidation("Pragma", "no-cache");
            r.Headers.TryAddWithoutValidation("Cache-Control", "max-stale=5");
        });
        Assert.Equal("v2", second.Body());
        Assert.Equal("v2", third.Body());
    }

    [Fact]
    public async Task Get_RequestMaxAge_RefusesAnOlderEntry()
    {
        _host.Upstream.Map("/r/max-age", _host.Respond(200, ("Cache-Control", "max-age=600")));
        using var first = await _host.GetAsync("/r/max-age");
        _host.Time.Advance(TimeSpan.FromSeconds(30));
        using var young = await _host.GetAsync("/r/max-age", r => r.Headers.TryAddWithoutValidation("Cache-Control", "max-age=60"));
        using var old = await _host.GetAsync("/r/max-age", r => r.Headers.TryAddWithoutValidation("Cache-Control", "max-age=10"));
        Assert.Equal("v1", young.Body());
        Assert.Equal("v2", old.Body());
        Assert.Contains("fwd=request", old.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_RequestMinFresh_RefusesAnEntryAboutToExpire()
    {
        _host.Upstream.Map("/r/min-fresh", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await _host.GetAsync("/r/min-fresh");
        _host.Time.Advance(TimeSpan.FromSeconds(50));
        using var lenient = await _host.GetAsync("/r/min-fresh", r => r.Headers.TryAddWithoutValidation("Cache-Control", "min-fresh=5"));
        using var strict = await _host.GetAsync("/r/min-fresh", r => r.Headers.TryAddWithoutValidation("Cache-Control", "min-fresh=20"));
        Assert.Equal("v1", lenient.Body());
        Assert.Equal("v2", strict.Body());
    }

    [Fact]
    public async Task Get_OnlyIfCached_Answers504WhenNothingFits()
    {
        _host.Upstream.Map("/r/only", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var miss = await _host.GetAsync("/r/only", r => r.Headers.TryAddWithoutValidation("Cache-Control", "only-if-cached"));
        using var fill = await _host.GetAsync("/r/only");
        using var hit = await _host.GetAsync("/r/only", r => r.Headers.TryAddWithoutValidation("Cache-Control", "only-if-cached"));
        Assert.Equal(HttpStatusCode.GatewayTimeout, miss.StatusCode);
        Assert.Equal(HttpStatusCode.OK, hit.StatusCode);
        Assert.Equal(1, _host.Hits("/r/only"));
    }

    [Fact]
    public async Task Get_RequestNoStore_DoesNotStoreTheResponse()
    {
        _host.Upstream.Map("/r/no-store", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await _host.GetAsync("/r/no-store", r => r.Headers.TryAddWithoutValidation("Cache-Control", "no-store"));
        using var second = await _host.GetAsync("/r/no-store");
        Assert.Contains("detail=request-no-store", first.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("v2", second.Body());
    }

    [Fact]
    public async Task Get_StaleWhileRevalidate_ServesStaleAtOnceAndRefreshesInBackground()
    {
        _host.Upstream.Map("/x/swr", _host.Respond(200, ("Cache-Control", "max-age=10, stale-while-revalidate=60")));
        using var first = await _host.GetAsync("/x/swr");
        _host.Time.Advance(TimeSpan.FromSeconds(20));
        using var stale = await _host.GetAsync("/x/swr");
        Assert.Equal("v1", stale.Body());
        Assert.Contains("detail=stale-while-revalidate", stale.CacheStatus(), StringComparison.Ordinal);
        await CacheTestHost.EventuallyAsync(() => _host.Hits("/x/swr") == 2, "the background refresh reached the app");
        var refresh = _host.Upstream.Received.Last(r => r.Path == "/x/swr");
        Assert.Equal("https", refresh.Header("X-Forwarded-Proto"));
        await CacheTestHost.EventuallyAsync(() => _host.GetAsync("/x/swr").GetAwaiter().GetResult().Body() == "v2", "the refreshed entry is served");
        Assert.Equal(2, _host.Hits("/x/swr"));
    }

    [Fact]
    public async Task Get_StaleWhileRevalidate_RefreshesOneAtATimePerKey()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var respond = _host.Respond(200, ("Cache-Control", "max-age=10, stale-while-revalidate=60"));
        var calls = 0;
        _host.Upstream.Map("/x/swr-once", async context =>
        {
            if (Interlocked.Increment(ref calls) > 1)
            {
                await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }

            await respond(context);
        });
        using var first = await _host.GetAsync("/x/swr-once");
        _host.Time.Advance(TimeSpan.FromSeconds(20));
        for (var i = 0; i < 5; i++)
        {
            using var stale = await _host.GetAsync("/x/swr-once");
            Assert.Equal("v1", stale.Body());
        }

        await CacheTestHost.EventuallyAsync(() => _host.Hits("/x/swr-once") == 2, "one refresh reached the app");
        release.SetResult();
        await CacheTestHost.EventuallyAsync(() => _host.GetAsync("/x/swr-once").GetAwaiter().GetResult().Body() == "v2", "the refreshed entry is served");
        Assert.Equal(2, _host.Hits("/x/swr-once"));
    }

    [Fact]
    public async Task Get_StaleIfError_ServesTheStaleEntryWhenTheAppFails()
    {
        var fail = false;
        var ok = _host.Respond(200, ("Cache-Control", "max-age=10, stale-if-error=60"));
        _host.Upstream.Map("/x/sie", context =>
        {
            if (fail)
            {
                context.Response.StatusCode = 503;
                return Task.CompletedTask;
            }

            return ok(context);
        });
        using var first = await _host.GetAsync("/x/sie");
        fail = true;
        _host.Time.Advance(TimeSpan.FromSeconds(20));
        using var stale = await _host.GetAsync("/x/sie");
        _host.Time.Advance(TimeSpan.FromSeconds(60));
        using var tooOld = await _host.GetAsync("/x/sie");
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal("v1", stale.Body());
        Assert.Equal("ProxySidecar; fwd=stale; fwd-status=503; detail=stale-if-error", stale.CacheStatus());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, tooOld.StatusCode);
    }

    [Fact]
    public async Task Post_Success_InvalidatesTheTargetAndSameOriginLocation()
    {
        _host.Upstream.Map("/i/item", _host.Respond(200, ("Cache-Control", "max-age=600")));
        _host.Upstream.Map("/i/list", _host.Respond(200, ("Cache-Control", "max-age=600")));
        _host.Upstream.Map("/i/other", _host.Respond(200, ("Cache-Control", "max-age=600")));
        using var item1 = await _host.GetAsync("/i/item");
        using var list1 = await _host.GetAsync("/i/list");
        using var other1 = await _host.GetAsync("/i/other");
        _host.Upstream.Map("/i/action", async context =>
        {
            if (context.Request.Method == "GET")
            {
                await _host.Respond(200, ("Cache-Control", "max-age=600"))(context);
                return;
            }

            context.Response.StatusCode = 201;
            context.Response.Headers.Location = "/i/list";
            context.Response.Headers.ContentLocation = "https://elsewhere.example/i/other";
        });
        using var post = await _host.SendAsync(HttpMethod.Post, "/i/item");
        using var post2 = await _host.SendAsync(HttpMethod.Post, "/i/action");
        using var item2 = await _host.GetAsync("/i/item");
        using var list2 = await _host.GetAsync("/i/list");
        using var other2 = await _host.GetAsync("/i/other");
        Assert.Equal(2, _host.Upstream.Received.Count(r => r.Path == "/i/item" && r.Method == "GET"));
        Assert.Equal("v2", list2.Body());
        Assert.Equal("v1", other2.Body());
    }
}
