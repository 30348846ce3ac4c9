using System.Net;

namespace ProxySidecar.IntegrationTests.Caching;

public sealed class CacheRuleFixture : IAsyncLifetime
{
    public CacheTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
    {
        ["Sidecar:Cache:TargetedCacheControlHeader"] = "CDN-Cache-Control",
        ["Sidecar:Cache:Rules:0:Path"] = "/bypass/**",
        ["Sidecar:Cache:Rules:0:Bypass"] = "true",
        ["Sidecar:Cache:Rules:1:Path"] = "/forced/*",
        ["Sidecar:Cache:Rules:1:ForcedTtl"] = "00:10:00",
        ["Sidecar:Cache:Rules:2:Path"] = "/default/**",
        ["Sidecar:Cache:Rules:2:DefaultTtl"] = "00:05:00",
        ["Sidecar:Cache:Rules:3:Path"] = "/utm/**",
        ["Sidecar:Cache:Rules:3:IgnoreQueryParameters:0"] = "utm_*",
        ["Sidecar:Cache:Rules:3:IgnoreQueryParameters:1"] = "fbclid",
        ["Sidecar:Cache:Rules:4:Path"] = "/lang/**",
        ["Sidecar:Cache:Rules:4:VaryHeaders:0"] = "Accept-Language",
        ["Sidecar:Cache:Rules:5:Path"] = "/cookie/**",
        ["Sidecar:Cache:Rules:5:AllowSetCookie"] = "true",
        ["Sidecar:Cache:Rules:6:Path"] = "/busting/**",
        ["Sidecar:Cache:Rules:6:IgnoreClientCacheControl"] = "true",
        ["Sidecar:Cache:Rules:7:Path"] = "/stale-rule/**",
        ["Sidecar:Cache:Rules:7:StaleIfError"] = "00:05:00",
        ["Sidecar:Cache:Rules:7:StaleWhileRevalidate"] = "00:00:30",
        ["Sidecar:Cache:Rules:8:Path"] = "/methods/**",
        ["Sidecar:Cache:Rules:8:Methods:0"] = "HEAD",
        ["Sidecar:Cache:Rules:8:Bypass"] = "true",
    });

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Each rule action, proven through the real pipeline.</summary>
public sealed class CacheRuleTests(CacheRuleFixture fixture) : IClassFixture<CacheRuleFixture>
{
    private readonly CacheTestHost _host = fixture.Host;

    [Fact]
    public async Task Rule_Bypass_ForwardsEveryRequestWithFwdBypass()
    {
        _host.Upstream.Map("/bypass/a/b", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await _host.GetAsync("/bypass/a/b");
        using var second = await _host.GetAsync("/bypass/a/b");
        Assert.Equal("v2", second.Body());
        Assert.Equal("ProxySidecar; fwd=bypass", second.CacheStatus());
    }

    [Fact]
    public async Task Rule_Methods_LimitWhereTheRuleApplies()
    {
        _host.Upstream.Map("/methods/x", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var get1 = await _host.GetAsync("/methods/x");
        using var get2 = await _host.GetAsync("/methods/x");
        using var head = await _host.SendAsync(HttpMethod.Head, "/methods/x");
        Assert.StartsWith("ProxySidecar; hit", get2.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("ProxySidecar; fwd=bypass", head.CacheStatus());
    }

    [Fact]
    public async Task Rule_ForcedTtl_OverridesTheAppsMaxAge()
    {
        _host.Upstream.Map("/forced/x", _host.Respond(200, ("Cache-Control", "max-age=1")));
        _host.Upstream.Map("/forced/deeper/x", _host.Respond(200, ("Cache-Control", "max-age=1")));
        using var first = await _host.GetAsync("/forced/x");
        using var deep1 = await _host.GetAsync("/forced/deeper/x");
        _host.Time.Advance(TimeSpan.FromMinutes(5));
        using var second = await _host.GetAsync("/forced/x");
        using var deep2 = await _host.GetAsync("/forced/deeper/x");
        Assert.Equal("v1", second.Body());
        Assert.Equal("v2", deep2.Body());
    }

    [Fact]
    public async Task Rule_DefaultTtl_AppliesOnlyWhenTheAppGivesNoFreshness()
    {
        _host.Upstream.Map("/default/none", _host.Respond(200));
        _host.Upstream.Map("/default/own", _host.Respond(200, ("Cache-Control", "max-age=10")));
        using var none1 = await _host.GetAsync("/default/none");
        using var own1 = await _host.GetAsync("/default/own");
        _host.Time.Advance(TimeSpan.FromMinutes(1));
        using var none2 = await _host.GetAsync("/default/none");
        using var own2 = await _host.GetAsync("/default/own");
        Assert.Equal("v1", none2.Body());
        Assert.Equal("v2", own2.Body());
    }

    [Fact]
    public async Task Rule_IgnoreQueryParameters_DropsThemFromTheKey()
    {
        _host.Upstream.Map("/utm/page", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var a = await _host.GetAsync("/utm/page?id=1&utm_source=x&fbclid=1");
        using var b = await _host.GetAsync("/utm/page?id=1&utm_medium=y");
        using var c = await _host.GetAsync("/utm/page?id=2&utm_source=x");
        Assert.Equal(["v1", "v1", "v2"], [a.Body(), b.Body(), c.Body()]);
        Assert.Equal("?id=1&utm_source=x&fbclid=1", _host.Upstream.Received.First(r => r.Path == "/utm/page").QueryString);
    }

    [Fact]
    public async Task Rule_VaryHeaders_AddVariantsTheAppDidNotAskFor()
    {
        _host.Upstream.Map("/lang/page", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var en = await _host.GetAsync("/lang/page", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en"));
        using var de = await _host.GetAsync("/lang/page", r => r.Headers.TryAddWithoutValidation("Accept-Language", "de"));
        using var en2 = await _host.GetAsync("/lang/page", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en"));
        Assert.Equal(["v1", "v2", "v1"], [en.Body(), de.Body(), en2.Body()]);
    }

    [Fact]
    public async Task Rule_AllowSetCookie_StoresTheResponseButNeverReplaysTheCookie()
    {
        _host.Upstream.Map("/cookie/page", _host.Respond(200, ("Cache-Control", "max-age=60"), ("Set-Cookie", "session=alice")));
        using var first = await _host.GetAsync("/cookie/page");
        using var second = await _host.GetAsync("/cookie/page");
        Assert.Equal("session=alice", first.Header("Set-Cookie"));
        Assert.Equal("v1", second.Body());
        Assert.Null(second.Header("Set-Cookie"));
    }

    [Fact]
    public async Task Rule_IgnoreClientCacheControl_ServesFromCacheDespiteNoCache()
    {
        _host.Upstream.Map("/busting/page", _host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await _host.GetAsync("/busting/page");
        using var second = await _host.GetAsync("/busting/page", r =>
        {
            r.Headers.TryAddWithoutValidation("Cache-Control", "no-cache");
            r.Headers.TryAddWithoutValidation("Pragma", "no-cache");
        });
        Assert.Equal("v1", second.Body());
    }

    [Fact]
    public async Task Rule_StaleIfErrorDefault_AppliesWhenTheAppSendsNone()
    {
        var fail = false;
        var ok = _host.Respond(200, ("Cache-Control", "max-age=10"));
        _host.Upstream.Map("/stale-rule/sie", context =>
        {
            if (fail)
            {
                context.Response.StatusCode = 500;
                return Task.CompletedTask;
            }

            return ok(context);
        });
        using var first = await _host.GetAsync("/stale-rule/sie");
        fail = true;
        _host.Time.Advance(TimeSpan.FromSeconds(60));
        using var stale = await _host.GetAsync("/stale-rule/sie");
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Contains("detail=stale-if-error", stale.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rule_StaleWhileRevalidateDefault_AppliesWhenTheAppSendsNone()
    {
        _host.Upstream.Map("/stale-rule/swr", _host.Respond(200, ("Cache-Control", "max-age=10")));
        using var first = await _host.GetAsync("/stale-rule/swr");
        _host.Time.Advance(TimeSpan.FromSeconds(15));
        using var stale = await _host.GetAsync("/stale-rule/swr");
        Assert.Equal("v1", stale.Body());
        Assert.Contains("detail=stale-while-revalidate", stale.CacheStatus(), StringComparison.Ordinal);
        await CacheTestHost.EventuallyAsync(() => _host.Hits("/stale-rule/swr") == 2, "the background refresh reached the app");
    }

    [Fact]
    public async Task TargetedField_TakesPrecedenceOverCacheControl()
    {
        _host.Upstream.Map("/t/cdn", _host.Respond(200, ("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=60")));
        _host.Upstream.Map("/t/cdn-no", _host.Respond(200, ("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "no-store")));
        using var a1 = await _host.GetAsync("/t/cdn");
        using var a2 = await _host.GetAsync("/t/cdn");
        using var b1 = await _host.GetAsync("/t/cdn-no");
        using var b2 = await _host.GetAsync("/t/cdn-no");
        Assert.Equal("v1", a2.Body());
        Assert.Equal("no-store", a2.Header("Cache-Control"));
        Assert.Equal("v2", b2.Body());
    }
}
