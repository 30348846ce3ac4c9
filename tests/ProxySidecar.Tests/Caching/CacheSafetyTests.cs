using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching;

/// <summary>The pure decisions behind "the cache never gives one user's response to another".</summary>
public sealed class CacheSafetyTests
{
    private const long Now = 1_700_000_000_000;

    private static CachePolicy PolicyWith(params CacheRuleOptions[] rules)
    {
        var options = new CacheOptions { TargetedCacheControlHeader = "CDN-Cache-Control" };
        foreach (var rule in rules)
        {
            options.Rules.Add(rule);
        }

        return new CachePolicy(options);
    }

    private static StorageDecision Decide(RequestCredentials credentials, params (string Name, string Value)[] headers)
    {
        var dictionary = new HeaderDictionary();
        foreach (var (name, value) in headers)
        {
            dictionary.Append(name, value);
        }

        return StorageDecision.Evaluate(200, dictionary, credentials, requestNoStore: false, CompiledRule.None, PolicyWith(), Now, Now);
    }

    // 1. Credentials: a response to a request with a cookie or client certificate is stored only when it explicitly allows sharing.
    [Theory]
    [InlineData("max-age=60", null, false)]
    [InlineData("no-cache", null, false)]
    [InlineData("", null, false)]
    [InlineData("must-revalidate, max-age=60", null, false)]
    [InlineData("public, max-age=60", null, true)]
    [InlineData("s-maxage=60", null, true)]
    [InlineData("max-age=60", "max-age=60", true)]
    public void Evaluate_RequestWithCookie_StoredOnlyWhenTheResponseExplicitlyAllowsSharing(string cacheControl, string? targeted, bool stored)
    {
        var headers = new List<(string, string)> { ("Cache-Control", cacheControl), ("ETag", "\"e\"") };
        if (targeted is not null)
        {
            headers.Add(("CDN-Cache-Control", targeted));
        }

        foreach (var credentials in new[] { RequestCredentials.Cookie, RequestCredentials.ClientCertificate })
        {
            var decision = Decide(credentials, [.. headers]);
            Assert.Equal(stored, decision.Store);
            if (!stored)
            {
                Assert.Equal("credentials", decision.Detail);
                Assert.False(decision.ResponseReason);
            }
            else
            {
                Assert.True((decision.Flags & CacheEntry.FlagShared) != 0);
            }
        }
    }

    [Fact]
    public void Evaluate_AnonymousRequest_NoExplicitSharing_IsStoredButNotMarkedShared()
    {
        var decision = Decide(RequestCredentials.None, ("Cache-Control", "max-age=60"));
        Assert.True(decision.Store);
        Assert.Equal(0, decision.Flags & CacheEntry.FlagShared);
    }

    [Fact]
    public void Evaluate_AllowedSetCookie_IsRememberedOnTheEntry()
    {
        var rule = RuleCompiler.Compile(new CacheRuleOptions { AllowSetCookie = true }, 0);
        var headers = new HeaderDictionary { ["Cache-Control"] = "max-age=60", ["Set-Cookie"] = "s=1" };
        var decision = StorageDecision.Evaluate(200, headers, RequestCredentials.None, false, rule, PolicyWith(), Now, Now);
        Assert.True(decision.Store);
        Assert.NotEqual(0, decision.Flags & CacheEntry.FlagSetCookie);
    }

    // 3. Operator windows never widen sharing: a page that is personal gets none of them.
    [Fact]
    public void Evaluate_CookieRequest_RuleWindowsAndHeuristicsDoNotMakeAPersonalPageStorable()
    {
        var rule = RuleCompiler.Compile(new CacheRuleOptions { DefaultTtl = TimeSpan.FromMinutes(5), StaleWhileRevalidate = TimeSpan.FromSeconds(30), StaleIfError = TimeSpan.FromMinutes(10) }, 0);
        foreach (var headers in new[]
        {
            new HeaderDictionary { ["ETag"] = "\"alice\"" },
            new HeaderDictionary { ["Last-Modified"] = "Tue, 01 Jan 2019 00:00:00 GMT" },
            new HeaderDictionary { ["Cache-Control"] = "no-cache", ["ETag"] = "\"alice\"" },
        })
        {
            var decision = StorageDecision.Evaluate(200, headers, RequestCredentials.Cookie, false, rule, PolicyWith(), Now, Now);
            Assert.False(decision.Store);
            Assert.Equal("credentials", decision.Detail);
        }
    }

    // Lookup: which entries may answer which requests.
    [Theory]
    [InlineData(0, 0, true)]
    [InlineData(0, 1, false)]
    [InlineData(0, 2, false)]
    [InlineData(0, 4, false)]
    [InlineData(CacheEntry.FlagShared | CacheEntry.FlagAuthorizationAllowed, 1 | 2, true)]
    [InlineData(CacheEntry.FlagShared, 1, true)]
    [InlineData(CacheEntry.FlagShared, 4, true)]
    [InlineData(CacheEntry.FlagShared, 2, false)]
    [InlineData(CacheEntry.FlagAuthorizationAllowed, 2, true)]
    [InlineData(CacheEntry.FlagAuthorizationAllowed, 1, false)]
    public void MayServe_CredentialsNeedAnEntryThatAllowedThem(int flags, int credentials, bool expected)
    {
        var entry = new CacheEntry { Kind = RecordKind.Response, VaryNames = [], Flags = flags };
        Assert.Equal(expected, entry.MayServe((RequestCredentials)credentials));
    }

    // 2. Coalescing hands a response only to waiters that could have had it from the cache.
    [Theory]
    [InlineData(0, 60_000, true)]
    [InlineData(0, 0, false)]
    [InlineData(CacheEntry.FlagNoCache, 60_000, false)]
    [InlineData(CacheEntry.FlagSetCookie, 60_000, false)]
    public void MayAnswerWaiters_OnlyFreshEntriesWithoutNoCacheOrSetCookie(int flags, long lifetimeMs, bool expected)
    {
        var entry = new CacheEntry { Kind = RecordKind.Response, VaryNames = [], Flags = flags, ResponseTimeMs = Now, LifetimeMs = lifetimeMs };
        Assert.Equal(expected, entry.MayAnswerWaiters(Now));
    }

    [Theory]
    [InlineData("_ga=1; _gid=2", true)]
    [InlineData("_ga=1; session=abc", false)]
    [InlineData("session=abc", false)]
    [InlineData("  ", true)]
    public void Credentials_CookiesTheRuleIgnores_DoNotCount(string cookie, bool anonymous)
    {
        var options = new CacheRuleOptions();
        options.IgnoreCookies.Add("_ga*");
        options.IgnoreCookies.Add("_gid");
        var rule = RuleCompiler.Compile(options, 0);
        var context = new DefaultHttpContext();
        context.Request.Headers.Cookie = cookie;
        Assert.Equal(anonymous, Credentials.Of(context, rule) == RequestCredentials.None);
        Assert.Equal(cookie.Trim().Length > 0, Credentials.Of(context, CompiledRule.None) == RequestCredentials.Cookie);
    }

    [Fact]
    public void Credentials_IgnoreCookiesStar_CookiesDoNotMatter_ButAuthorizationStill()
    {
        var options = new CacheRuleOptions();
        options.IgnoreCookies.Add("*");
        var rule = RuleCompiler.Compile(options, 0);
        var context = new DefaultHttpContext();
        context.Request.Headers.Cookie = "session=abc";
        Assert.Equal(RequestCredentials.None, Credentials.Of(context, rule));
        context.Request.Headers.Authorization = "Bearer x";
        Assert.Equal(RequestCredentials.Authorization, Credentials.Of(context, rule));
    }

    // 4. One key per resource.
    [Theory]
    [InlineData("/raw/x%3Fa=1", "/raw/x?a=1")]
    [InlineData("/a%252F", "/a%2F")]
    [InlineData("/a%2F", "/a/")]
    [InlineData("/p%23x", "/p#x")]
    [InlineData("/p%25", "/p%")]
    [InlineData("/q?a=%26b", "/q?a=&b")]
    [InlineData("/Admin", "/admin")]
    public void Primary_TargetsTheAppCanTellApart_NeverShareAKey(string one, string other)
    {
        Assert.NotEqual(KeyOf(one), KeyOf(other));
    }

    [Theory]
    [InlineData("/a%3f", "/a%3F")]
    [InlineData("/%7Euser/x", "/~user/x")]
    [InlineData("/b%41%2d", "/bA-")]
    [InlineData("/q?x=%2fy", "/q?x=%2Fy")]
    public void Primary_EquivalentTargetsUnderRfc3986_ShareAKey(string one, string other)
    {
        Assert.Equal(KeyOf(one), KeyOf(other));
    }

    [Fact]
    public void Primary_PurgeUrl_HasTheSameKeyAsTheRequestForIt()
    {
        var policy = PolicyWith();
        foreach (var target in new[] { "/raw/x%3Fa=1", "/a%252F", "/a%2F", "/plain?x=1&y=2", "/%7Euser" })
        {
            Assert.Equal(KeyOf(target), CacheKey.PrimaryFor(new Uri("https://example.com:8443" + target), policy));
        }
    }

    private static string KeyOf(string target)
    {
        var context = new DefaultHttpContext();
        context.Request.Scheme = "https";
        context.Request.Host = new HostString("example.com:8443");
        var queryStart = target.IndexOf('?', StringComparison.Ordinal);
        context.Request.Path = PathString.FromUriComponent(queryStart < 0 ? target : target[..queryStart]);
        context.Request.QueryString = queryStart < 0 ? QueryString.Empty : new QueryString(target[queryStart..]);
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = target;
        return CacheKey.Primary(context.Request, CompiledRule.None);
    }

    // 5. Rules match what the app will see, and fail closed.
    [Theory]
    [InlineData("/api/me")]
    [InlineData("/API/me")]
    [InlineData("/api;x/me")]
    [InlineData("//api/me")]
    [InlineData("/api%2Fme")]
    [InlineData("/static/..%2Fapi/me")]
    [InlineData("/api/")]
    [InlineData("/Api")]
    public void Match_BypassRule_CatchesEveryFormOfItsPath(string routedPath)
    {
        var policy = PolicyWith(
            new CacheRuleOptions { Name = "api", Path = "/api/**", Bypass = true },
            new CacheRuleOptions { Name = "static", Path = "/static/**", DefaultTtl = TimeSpan.FromDays(1) },
            new CacheRuleOptions { Name = "pages", Path = "/**", StaleWhileRevalidate = TimeSpan.FromSeconds(30) });
        Assert.Equal("api", policy.Match("GET", routedPath).Name);
    }

    [Fact]
    public void Match_CachingRules_StayCaseSensitiveUnlessAsked()
    {
        var policy = PolicyWith(
            new CacheRuleOptions { Name = "assets", Path = "/assets/**", DefaultTtl = TimeSpan.FromDays(1) },
            new CacheRuleOptions { Name = "docs", Path = "/docs/**", DefaultTtl = TimeSpan.FromDays(1), IgnoreCase = true });
        Assert.Same(CompiledRule.None, policy.Match("GET", "/ASSETS/app.css"));
        Assert.Equal("docs", policy.Match("GET", "/DOCS/a").Name);
    }

    [Fact]
    public void Match_FormsMatchingDifferentCachingRules_TheStricterApplies()
    {
        var policy = PolicyWith(new CacheRuleOptions { Name = "assets", Path = "/assets/**", DefaultTtl = TimeSpan.FromDays(1) });

        // Normalised, "/assets;v=2/app.css" is "/assets/app.css"; routed, it matches no rule: no rule is stricter.
        Assert.Same(CompiledRule.None, policy.Match("GET", "/assets;v=2/app.css"));
        Assert.Equal("assets", policy.Match("GET", "/assets/app.css").Name);
    }

    [Theory]
    [InlineData("/a//b", "/a/b")]
    [InlineData("/a;x=1/b;y", "/a/b")]
    [InlineData("/a%2Fb", "/a/b")]
    [InlineData("/a/./b/../c", "/a/c")]
    [InlineData("/a/..%2F..%2Fb", "/b")]
    [InlineData("/a\\b", "/a/b")]
    [InlineData("/a/", "/a/")]
    [InlineData("/plain/path", "/plain/path")]
    public void RulePath_Normalise(string path, string expected)
    {
        Assert.Equal(expected, RulePath.Normalise(path));
    }

    [Fact]
    public void RulePath_NothingToDo_ReturnsTheSameString()
    {
        const string path = "/nothing/to.do";
        Assert.Same(path, RulePath.Normalise(path));
    }
}
