using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Caching;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>
/// RFC 9110/9111 behaviours a client or an app can notice: ranges from the cache, strict Expires, invalidation by any
/// unsafe method, HEAD freshening the stored GET, stale when the app cannot be reached, request no-store, targeted
/// fields as Structured Fields, validators as sent, Cache-Control edge values and Vary normalisation.
/// </summary>
public sealed class CacheCompletenessTests(CacheHostFixture fixture) : IClassFixture<CacheHostFixture>
{
    private readonly CacheTestHost _host = fixture.Host;

    private RequestDelegate Body(string body, params (string Name, string Value)[] headers) => async context =>
    {
        foreach (var (name, value) in headers)
        {
            context.Response.Headers.Append(name, value);
        }

        context.Response.Headers.Date = _host.HttpDate(TimeSpan.Zero);
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.WriteAsync(body);
        }
    };

    /// <summary>Waits until the store holds a record for <paramref name="path"/> (written after the client's response).</summary>
    private async Task WaitForRecordAsync(string path)
    {
        var store = _host.Sidecar.Services.GetRequiredService<Microsoft.AspNetCore.OutputCaching.IOutputCacheStore>();
        var policy = _host.Sidecar.Services.GetRequiredService<ProxySidecar.Caching.Rules.CachePolicyProvider>().Current;
        var key = CacheKey.PrimaryStoreKey(CacheKey.PrimaryFor(new Uri(_host.Sidecar.HttpsAddress, path), policy));
        await CacheTestHost.EventuallyAsync(() => store.GetAsync(key, CancellationToken.None).AsTask().GetAwaiter().GetResult() is not null, $"{path} was stored");
    }

    [Fact]
    public async Task Get_RangeOfAStoredResponse_IsAnsweredFromTheEntry()
    {
        _host.Upstream.Map("/c/range", Body("0123456789", ("Cache-Control", "max-age=600"), ("ETag", "\"r1\""), ("Content-Type", "text/plain")));
        using var first = await _host.GetAsync("/c/range");
        await _host.WaitUntilStoredAsync("/c/range");

        async Task<HttpResponseMessage> RangeAsync(string range, string? ifRange = null) => await _host.GetAsync("/c/range", r =>
        {
            r.Headers.TryAddWithoutValidation("Range", range);
            if (ifRange is not null)
            {
                r.Headers.TryAddWithoutValidation("If-Range", ifRange);
            }
        });

        using var middle = await RangeAsync("bytes=2-4");
        using var suffix = await RangeAsync("bytes=-3");
        using var open = await RangeAsync("bytes=7-");
        using var beyond = await RangeAsync("bytes=20-");
        using var ifRangeSame = await RangeAsync("bytes=0-1", "\"r1\"");
        using var ifRangeOther = await RangeAsync("bytes=0-1", "\"r0\"");
        using var several = await RangeAsync("bytes=0-1,4-5");

        Assert.Equal(HttpStatusCode.PartialContent, middle.StatusCode);
        Assert.Equal("234", middle.Body());
        Assert.Equal("bytes 2-4/10", middle.Header("Content-Range"));
        Assert.Equal("3", middle.Header("Content-Length"));
        Assert.Equal("text/plain", middle.Header("Content-Type"));
        Assert.Contains("; hit", middle.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("789", suffix.Body());
        Assert.Equal("bytes 7-9/10", suffix.Header("Content-Range"));
        Assert.Equal("789", open.Body());
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, beyond.StatusCode);
        Assert.Equal("bytes */10", beyond.Header("Content-Range"));
        Assert.Equal(HttpStatusCode.PartialContent, ifRangeSame.StatusCode);
        Assert.Equal("01", ifRangeSame.Body());
        Assert.Equal(HttpStatusCode.OK, ifRangeOther.StatusCode);
        Assert.Equal("0123456789", ifRangeOther.Body());
        Assert.Equal(HttpStatusCode.OK, several.StatusCode);
        Assert.Equal("0123456789", several.Body());
        Assert.Equal(1, _host.Hits("/c/range"));
    }

    [Theory]
    [InlineData("Thu, 01 Jan 2099 00:00:00 GMT", true)]
    [InlineData("Thursday, 01-Jan-99 00:00:00 GMT", false)] // 1999: in the past
    [InlineData("Thu Jan  1 00:00:00 2099", true)]
    [InlineData("Thu,  01 Jan 2099 00:00:00 GMT", false)]
    [InlineData("Thu, 01-Jan-2099 00:00:00 GMT", false)]
    [InlineData("Thu, 01 Jan 2099 0:00:00 GMT", false)]
    [InlineData("2099-01-01T00:00:00Z", false)]
    public async Task Get_Expires_IsParsedStrictly(string expires, bool fresh)
    {
        var path = "/c/expires/" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(expires));
        _host.Upstream.Map(path, Body("e", ("Expires", expires), ("ETag", "\"e\"")));

        using var first = await _host.GetAsync(path);
        await WaitForRecordAsync(path);
        using var second = await _host.GetAsync(path);

        Assert.Equal(fresh, second.CacheStatus().Contains("; hit", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Get_SeveralExpiresLines_AreAlreadyExpired()
    {
        _host.Upstream.Map("/c/expires-twice", Body("e", ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"), ("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"), ("ETag", "\"e\"")));
        using var first = await _host.GetAsync("/c/expires-twice");
        using var second = await _host.GetAsync("/c/expires-twice");
        Assert.DoesNotContain("; hit", second.CacheStatus(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("PURGE")]
    [InlineData("M-SEARCH")]
    [InlineData("BREW")]
    public async Task ExtensionMethod_WithASuccessfulAnswer_InvalidatesTheTarget(string method)
    {
        var path = "/c/unsafe-" + method.ToLowerInvariant();
        _host.Upstream.Map(path, Body("page", ("Cache-Control", "max-age=600")));
        using var first = await _host.GetAsync(path);
        await _host.WaitUntilStoredAsync(path);

        using var unsafeRequest = await _host.SendAsync(new HttpMethod(method), path);
        using var after = await _host.GetAsync(path);

        Assert.Equal("ProxySidecar; fwd=method", unsafeRequest.CacheStatus());
        Assert.DoesNotContain("; hit", after.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Head_SameValidators_FreshensTheStoredGet()
    {
        var heads = 0;
        _host.Upstream.Map("/c/head-same", async context =>
        {
            var maxAge = HttpMethods.IsHead(context.Request.Method) ? 600 : 10;
            if (HttpMethods.IsHead(context.Request.Method))
            {
                Interlocked.Increment(ref heads);
            }

            await Body("body", ("Cache-Control", $"max-age={maxAge}"), ("ETag", "\"same\""), ("X-Version", maxAge.ToString(System.Globalization.CultureInfo.InvariantCulture)))(context);
        });
        using var first = await _host.GetAsync("/c/head-same");
        await _host.WaitUntilStoredAsync("/c/head-same");
        _host.Time.Advance(TimeSpan.FromSeconds(20));

        using var head = await _host.SendAsync(HttpMethod.Head, "/c/head-same");
        await CacheTestHost.EventuallyAsync(() => Volatile.Read(ref heads) == 1, "the HEAD reached the app");
        await _host.WaitUntilStoredAsync("/c/head-same");
        using var get = await _host.GetAsync("/c/head-same");

        Assert.Equal("body", get.Body());
        Assert.Equal("600", get.Header("X-Version"));
        Assert.Contains("; hit", get.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(1, _host.Upstream.Received.Count(r => r.Path == "/c/head-same" && r.Method == "GET"));
    }

    [Fact]
    public async Task Head_OtherValidators_InvalidatesTheStoredGet()
    {
        var version = "\"v1\"";
        _host.Upstream.Map("/c/head-changed", async context => await Body("body " + version, ("Cache-Control", "max-age=10"), ("ETag", version))(context));
        using var first = await _host.GetAsync("/c/head-changed");
        await _host.WaitUntilStoredAsync("/c/head-changed");
        _host.Time.Advance(TimeSpan.FromSeconds(20));
        version = "\"v2\"";

        using var head = await _host.SendAsync(HttpMethod.Head, "/c/head-changed");
        await CacheTestHost.EventuallyAsync(() => _host.Upstream.Received.Any(r => r.Path == "/c/head-changed" && r.Method == "HEAD"), "the HEAD reached the app");

        // The stored GET is gone: the next GET is a plain miss, not a revalidation of the old entry.
        using var get = await _host.GetAsync("/c/head-changed");
        Assert.Equal("body \"v2\"", get.Body());
        var lastGet = _host.Upstream.Received.Last(r => r.Path == "/c/head-changed" && r.Method == "GET");
        Assert.Null(lastGet.Header("If-None-Match"));
    }

    [Fact]
    public async Task Get_RequestNoStore_IsNotStoredNorGivenAnotherRequestsEntry()
    {
        var coalescer = _host.Sidecar.Services.GetRequiredService<RequestCoalescer>();
        var first = true;
        var respond = _host.Respond(200, ("Cache-Control", "max-age=600"));
        _host.Upstream.Map("/c/no-store", async context =>
        {
            if (first)
            {
                first = false;
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
                while (_host.Hits("/c/no-store") < 2 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }
            }

            await respond(context);
        });
        _host.Upstream.Map("/c/no-store-alone", _host.Respond(200, ("Cache-Control", "max-age=600")));

        using var alone = await _host.GetAsync("/c/no-store-alone", r => r.Headers.CacheControl = new CacheControlHeaderValue { NoStore = true });
        using var after = await _host.GetAsync("/c/no-store-alone");
        var plain = _host.GetAsync("/c/no-store");
        await CacheTestHost.EventuallyAsync(() => _host.Hits("/c/no-store") == 1, "the first request is at the app");
        using var noStore = await _host.GetAsync("/c/no-store", r => r.Headers.CacheControl = new CacheControlHeaderValue { NoStore = true });
        using var plainResponse = await plain;

        Assert.Contains("detail=request-no-store", alone.CacheStatus(), StringComparison.Ordinal);
        Assert.DoesNotContain("; hit", after.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("v1", noStore.Body());
        Assert.DoesNotContain("coalesced", noStore.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(2, _host.Hits("/c/no-store"));
    }

    [Fact]
    public async Task Get_UnquotedETag_IsReplayedAndSentBackExactlyAsTheAppSentIt()
    {
        _host.Upstream.Map("/c/etag-raw", Body("raw", ("Cache-Control", "max-age=10"), ("ETag", "abc-123")));
        using var first = await _host.GetAsync("/c/etag-raw");
        await _host.WaitUntilStoredAsync("/c/etag-raw");
        using var hit = await _host.GetAsync("/c/etag-raw");
        _host.Time.Advance(TimeSpan.FromSeconds(20));

        using var revalidated = await _host.GetAsync("/c/etag-raw");

        Assert.Equal("abc-123", hit.Header("ETag"));
        var conditional = _host.Upstream.Received.Last(r => r.Path == "/c/etag-raw");
        Assert.Equal("abc-123", conditional.Header("If-None-Match"));
    }

    [Theory]
    [InlineData("max-age = 60", false)]
    [InlineData("max-age=60.0", false)]
    [InlineData("max-age=60s", false)]
    [InlineData("max-age=60", true)]
    public async Task Get_CacheControlEdgeValues_GiveNoFreshnessWhenInvalid(string cacheControl, bool fresh)
    {
        var path = "/c/cc/" + Convert.ToHexString(System.Text.Encoding.UTF8.GetBytes(cacheControl));
        _host.Upstream.Map(path, Body("cc", ("Cache-Control", cacheControl), ("ETag", "\"cc\"")));
        using var first = await _host.GetAsync(path);
        await WaitForRecordAsync(path);
        using var second = await _host.GetAsync(path);
        Assert.Equal(fresh, second.CacheStatus().Contains("; hit", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Get_DuplicatedMaxAge_TheMostRestrictiveApplies()
    {
        _host.Upstream.Map("/c/cc-twice", Body("cc", ("Cache-Control", "max-age=600"), ("Cache-Control", "max-age=5")));
        using var first = await _host.GetAsync("/c/cc-twice");
        await _host.WaitUntilStoredAsync("/c/cc-twice");
        using var hit = await _host.GetAsync("/c/cc-twice");

        // 5 s of freshness, less the part of a second the whole-second Date makes the response look old.
        Assert.Matches("; hit; ttl=[45]$", hit.CacheStatus());
    }

    [Fact]
    public async Task Get_EqualLanguagePreferences_ShareAVariant()
    {
        _host.Upstream.Map("/c/lang", Body("lang", ("Cache-Control", "max-age=600"), ("Vary", "Accept-Language")));
        using var first = await _host.GetAsync("/c/lang", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en-US,en;q=0.8"));
        await _host.WaitUntilStoredAsync("/c/lang", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en-US,en;q=0.8"));
        using var same = await _host.GetAsync("/c/lang", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en;q=0.80, EN-us"));
        Assert.Contains("; hit", same.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(1, _host.Hits("/c/lang"));
    }
}

/// <summary>The app gone or broken, and the targeted field: each with a sidecar of its own.</summary>
public sealed class CacheUnreachableTests
{
    [Theory]
    [InlineData("max-age=10", true)]
    [InlineData("max-age=10, must-revalidate", false)]
    [InlineData("max-age=10, proxy-revalidate", false)]
    [InlineData("s-maxage=10", false)]
    public async Task Get_AppCannotBeReached_EntryWithinTheWindowIsServed_UnlessADirectiveForbids(string cacheControl, bool served)
    {
        var upstream = await Infrastructure.TestUpstream.StartAsync();
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Cache:StaleIfUnreachable"] = "00:01:00" }, upstream: upstream);
        host.Upstream.Map("/gone", host.Respond(200, ("Cache-Control", cacheControl)));
        using var first = await host.GetAsync("/gone");
        await host.WaitUntilStoredAsync("/gone");
        await upstream.DisposeAsync();
        host.Time.Advance(TimeSpan.FromSeconds(40));

        using var response = await host.GetAsync("/gone");

        if (served)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("v1", response.Body());
            Assert.Equal("ProxySidecar; fwd=stale; fwd-status=502; detail=unreachable", response.CacheStatus());
        }
        else
        {
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }
    }

    [Fact]
    public async Task Get_AppCannotBeReached_BeyondTheWindow_Is502()
    {
        var upstream = await Infrastructure.TestUpstream.StartAsync();
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Cache:StaleIfUnreachable"] = "00:00:20" }, upstream: upstream);
        host.Upstream.Map("/gone-long", host.Respond(200, ("Cache-Control", "max-age=10")));
        using var first = await host.GetAsync("/gone-long");
        await host.WaitUntilStoredAsync("/gone-long");
        await upstream.DisposeAsync();
        host.Time.Advance(TimeSpan.FromSeconds(40));

        using var response = await host.GetAsync("/gone-long");
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    [Fact]
    public async Task Get_AppAnswers503_IsNotUnreachable_AndIsPassedOn()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Cache:StaleIfUnreachable"] = "00:01:00" });
        var broken = false;
        var ok = host.Respond(200, ("Cache-Control", "max-age=10"));
        host.Upstream.Map("/answers-503", async context =>
        {
            if (broken)
            {
                context.Response.StatusCode = 503;
                await context.Response.WriteAsync("down for maintenance");
                return;
            }

            await ok(context);
        });
        using var first = await host.GetAsync("/answers-503");
        await host.WaitUntilStoredAsync("/answers-503");
        broken = true;
        host.Time.Advance(TimeSpan.FromSeconds(20));

        using var response = await host.GetAsync("/answers-503");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("down for maintenance", response.Body());
    }

    [Theory]
    [InlineData("max-age=600", true)]
    [InlineData("max-age=\"600\"", false)]
    [InlineData("max-age=600.0", false)]
    [InlineData("max-age=600,,", false)]
    public async Task Get_TargetedFieldThatIsNotAValidStructuredField_IsIgnored(string targeted, bool stored)
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Cache:TargetedCacheControlHeader"] = "CDN-Cache-Control" });
        host.Upstream.Map("/targeted", host.Respond(200, ("Cache-Control", "no-store"), ("CDN-Cache-Control", targeted)));
        using var first = await host.GetAsync("/targeted");
        using var second = await host.GetAsync("/targeted");
        Assert.Equal(stored ? 1 : 2, host.Hits("/targeted"));
        if (!stored)
        {
            Assert.Contains("detail=no-store", second.CacheStatus(), StringComparison.Ordinal);
        }
    }
}
