using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>
/// The cache in front of an app that knows nothing about shared caches (cookie sessions, at most an ETag or a
/// Last-Modified): no user ever gets another user's response. Real TLS, a real app, the example configurations.
/// </summary>
public sealed class CacheSafetyTests
{
    public static TheoryData<string> PersonalPageKinds => ["etag", "last-modified", "no-cache"];

    public static TheoryData<string, string> ExamplesAndKinds()
    {
        var data = new TheoryData<string, string>();
        foreach (var (source, _) in ExampleConfigurations.All())
        {
            foreach (var kind in PersonalPageKinds)
            {
                data.Add(source, kind);
            }
        }

        return data;
    }

    private static Dictionary<string, string?> Example(string source) => ExampleConfigurations.All().First(e => e.Source == source).Settings;

    /// <summary>A personal page: the body names the session; the headers are only a validator (or no-cache).</summary>
    private static RequestDelegate PersonalPage(CacheTestHost host, string kind, Func<int>? beforeAnswer = null) => async context =>
    {
        beforeAnswer?.Invoke();
        var user = context.Request.Headers.Cookie.ToString();
        var body = "page for " + user;
        switch (kind)
        {
            case "etag":
                context.Response.Headers.ETag = "\"" + Convert.ToHexString(Encoding.UTF8.GetBytes(user)) + "\"";
                break;
            case "last-modified":
                context.Response.Headers.LastModified = host.HttpDate(TimeSpan.FromDays(-30));
                break;
            default:
                context.Response.Headers.CacheControl = "no-cache";
                context.Response.Headers.ETag = "\"" + Convert.ToHexString(Encoding.UTF8.GetBytes(user)) + "\"";
                break;
        }

        context.Response.Headers.Date = host.HttpDate(TimeSpan.Zero);
        await context.Response.WriteAsync(body);
    };

    [Theory]
    [MemberData(nameof(ExamplesAndKinds))]
    public async Task Get_TwelveUsersAtTheSameMoment_EachGetsTheirOwnPage(string example, string kind)
    {
        await using var host = await CacheTestHost.StartAsync(Example(example));
        var coalescer = host.Sidecar.Services.GetRequiredService<RequestCoalescer>();
        var inside = 0;
        host.Upstream.Map("/me", async context =>
        {
            // Hold every request until all twelve reached the app or the others wait behind it (bounded).
            Interlocked.Increment(ref inside);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            while (Volatile.Read(ref inside) < 12 && coalescer.Waiting < 11 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            await PersonalPage(host, kind)(context);
        });

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            host.GetAsync("/me", r => r.Headers.Add("Cookie", $"session=user{i}"))));

        for (var i = 0; i < 12; i++)
        {
            Assert.Equal($"page for session=user{i}", responses[i].Body());
            responses[i].Dispose();
        }

        Assert.Equal(12, host.Hits("/me"));
    }

    [Theory]
    [MemberData(nameof(ExamplesAndKinds))]
    public async Task Get_AliceThenBobASecondLater_BobGetsHisOwnPage(string example, string kind)
    {
        await using var host = await CacheTestHost.StartAsync(Example(example));
        host.Upstream.Map("/account", PersonalPage(host, kind));

        using var alice = await host.GetAsync("/account", r => r.Headers.Add("Cookie", "session=alice"));
        host.Time.Advance(TimeSpan.FromSeconds(1));
        using var bob = await host.GetAsync("/account", r => r.Headers.Add("Cookie", "session=bob"));

        Assert.Equal("page for session=alice", alice.Body());
        Assert.Equal("page for session=bob", bob.Body());
        Assert.Contains("detail=credentials", bob.CacheStatus(), StringComparison.Ordinal);
        Assert.DoesNotContain("; hit", bob.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revalidation_ForACookieRequest_TheUsers304IsNotStoredForOthers()
    {
        await using var host = await CacheTestHost.StartAsync();
        await StoreTheSharedPageAndLetItGoStaleAsync(host);

        // The stale shared entry may answer Bob; the app's 304 to his revalidation carries his own header and no
        // "public", so it is his answer only.
        using var bob = await host.GetAsync("/shared", r => r.Headers.Add("Cookie", "session=bob"));
        await host.WaitUntilStoredAsync("/shared");
        using var anonymous = await host.GetAsync("/shared");

        Assert.Equal("shared page", bob.Body());
        Assert.Equal("session=bob", bob.Header("X-User"));
        Assert.Contains("detail=credentials", bob.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("shared page", anonymous.Body());
        Assert.Contains("; hit", anonymous.CacheStatus(), StringComparison.Ordinal);
        Assert.Null(anonymous.Header("X-User"));
    }

    [Fact]
    public async Task HeadWithACookie_DoesNotFreshenTheStoredGetWithThatUsersHeaders()
    {
        await using var host = await CacheTestHost.StartAsync();
        await StoreTheSharedPageAndLetItGoStaleAsync(host);

        using var bobsHead = await host.SendAsync(HttpMethod.Head, "/shared", r => r.Headers.Add("Cookie", "session=bob"));
        await host.WaitUntilStoredAsync("/shared");
        using var anonymous = await host.GetAsync("/shared");

        Assert.Equal("session=bob", bobsHead.Header("X-User"));
        Assert.Equal("shared page", anonymous.Body());
        Assert.Null(anonymous.Header("X-User"));
    }

    /// <summary>The shared page, fetched without credentials and stored, then stale: the next request revalidates it.</summary>
    private static async Task StoreTheSharedPageAndLetItGoStaleAsync(CacheTestHost host)
    {
        host.Upstream.Map("/shared", SharedPageWhose304IsPersonal(host));
        using (var first = await host.GetAsync("/shared"))
        {
            Assert.Equal("shared page", first.Body());
        }

        await host.WaitUntilStoredAsync("/shared");
        host.Time.Advance(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task Revalidation_304WithSetCookie_DoesNotFreshenTheStoredEntry()
    {
        await using var host = await CacheTestHost.StartAsync();
        var notModified = 0;
        host.Upstream.Map("/shared", async context =>
        {
            context.Response.Headers.ETag = "\"v1\"";
            context.Response.Headers.Date = host.HttpDate(TimeSpan.Zero);
            if (context.Request.Headers.IfNoneMatch == "\"v1\"")
            {
                Interlocked.Increment(ref notModified);
                context.Response.StatusCode = StatusCodes.Status304NotModified;
                context.Response.Headers.CacheControl = "public, max-age=60";
                context.Response.Headers.SetCookie = "session=new-visitor";
                return;
            }

            context.Response.Headers.CacheControl = "public, max-age=1";
            await context.Response.WriteAsync("shared page");
        });
        using (var first = await host.GetAsync("/shared"))
        {
            Assert.Equal("shared page", first.Body());
        }

        await host.WaitUntilStoredAsync("/shared");
        host.Time.Advance(TimeSpan.FromSeconds(2));

        using var revalidated = await host.GetAsync("/shared");
        using var next = await host.GetAsync("/shared");

        Assert.Contains("detail=set-cookie", revalidated.CacheStatus(), StringComparison.Ordinal);
        Assert.DoesNotContain("; hit", next.CacheStatus(), StringComparison.Ordinal);
        Assert.Null(next.Header("Set-Cookie"));
        Assert.Equal(2, Volatile.Read(ref notModified));
    }

    /// <summary>
    /// A public page with a validator, fresh for one second; revalidated, the app answers 304 with max-age=60 (no
    /// "public") and, for a request with a cookie, an X-User header naming it.
    /// </summary>
    private static RequestDelegate SharedPageWhose304IsPersonal(CacheTestHost host) => async context =>
    {
        context.Response.Headers.ETag = "\"v1\"";
        context.Response.Headers.Date = host.HttpDate(TimeSpan.Zero);
        if (context.Request.Headers.IfNoneMatch == "\"v1\"" || HttpMethods.IsHead(context.Request.Method))
        {
            if (context.Request.Headers.Cookie.Count > 0)
            {
                context.Response.Headers["X-User"] = context.Request.Headers.Cookie.ToString();
            }

            if (!HttpMethods.IsHead(context.Request.Method))
            {
                context.Response.StatusCode = StatusCodes.Status304NotModified;
            }

            context.Response.Headers.CacheControl = "max-age=60";
            return;
        }

        context.Response.Headers.CacheControl = "public, max-age=1";
        await context.Response.WriteAsync("shared page");
    };

    [Fact]
    public async Task Get_CookieRequest_IsNotAnsweredFromAnEntryStoredForAnonymousRequests()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/home", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            context.Response.Headers.Date = host.HttpDate(TimeSpan.Zero);
            await context.Response.WriteAsync("home for '" + context.Request.Headers.Cookie + "'");
        });
        using var anonymous = await host.GetAsync("/home");
        await host.WaitUntilStoredAsync("/home");

        using var alice = await host.GetAsync("/home", r => r.Headers.Add("Cookie", "session=alice"));
        using var anonymousAgain = await host.GetAsync("/home");

        Assert.Equal("home for 'session=alice'", alice.Body());
        Assert.StartsWith("ProxySidecar; fwd=request; fwd-status=200; detail=credentials", alice.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("home for ''", anonymousAgain.Body());
        Assert.Contains("; hit", anonymousAgain.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_CookieRequest_ExplicitlyPublicResponse_IsStoredAndShared()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/landing", host.Respond(200, ("Cache-Control", "public, max-age=60")));

        using var alice = await host.GetAsync("/landing", r => r.Headers.Add("Cookie", "session=alice"));
        await host.WaitUntilStoredAsync("/landing", r => r.Headers.Add("Cookie", "session=bob"));
        using var anonymous = await host.GetAsync("/landing");

        Assert.Equal("v1", anonymous.Body());
        Assert.Contains("; hit", anonymous.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(1, host.Hits("/landing"));
    }

    [Fact]
    public async Task Get_RuleIgnoresAnalyticsCookies_PageIsSharedButASessionCookieStillIsNot()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Cache:Rules:0:Path"] = "/**",
            ["Sidecar:Cache:Rules:0:IgnoreCookies:0"] = "_ga*",
            ["Sidecar:Cache:Rules:0:IgnoreCookies:1"] = "_gid",
        });
        host.Upstream.Map("/", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            await context.Response.WriteAsync("front for '" + context.Request.Headers.Cookie + "'");
        });

        using var first = await host.GetAsync("/", r => r.Headers.Add("Cookie", "_ga=GA1.1; _gid=7"));
        await host.WaitUntilStoredAsync("/", r => r.Headers.Add("Cookie", "_ga=GA1.2"));
        using var withSession = await host.GetAsync("/", r => r.Headers.Add("Cookie", "_ga=GA1.3; session=bob"));

        Assert.Equal("front for '_ga=GA1.1; _gid=7'", first.Body());
        Assert.Equal("front for '_ga=GA1.3; session=bob'", withSession.Body());
        Assert.Contains("detail=credentials", withSession.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ConcurrentMisses_ResponseThatCannotBeShared_WaitersGoToTheAppSideBySide()
    {
        await using var host = await CacheTestHost.StartAsync();
        var coalescer = host.Sidecar.Services.GetRequiredService<RequestCoalescer>();
        var inside = 0;
        var maxInside = 0;
        var calls = 0;
        host.Upstream.Map("/fresh-each-time", async context =>
        {
            var n = Interlocked.Increment(ref calls);
            var now = Interlocked.Increment(ref inside);
            InterlockedMax(ref maxInside, now);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            if (n == 1)
            {
                // The first holds the others in the queue behind it.
                while (coalescer.Waiting < 7 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }
            }
            else
            {
                // The others are answered once all seven are at the app together (bounded).
                while (Volatile.Read(ref maxInside) < 7 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }
            }

            Interlocked.Decrement(ref inside);
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers.ETag = "\"e" + n + "\"";
            await context.Response.WriteAsync("v" + n);
        });
        using var handler = host.Sidecar.CreateHandler();
        using var client = new HttpClient(handler) { BaseAddress = host.Sidecar.HttpsAddress };

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => host.GetAsync("/fresh-each-time", client: client)));

        Assert.Equal(8, responses.Select(r => r.Body()).Distinct().Count());
        Assert.Equal(8, host.Hits("/fresh-each-time"));
        Assert.True(Volatile.Read(ref maxInside) >= 7, $"the waiters reached the app one after another (at most {maxInside} at once)");
        Assert.DoesNotContain(responses, r => r.CacheStatus().Contains("coalesced", StringComparison.Ordinal));
        Assert.True(coalescer.IsHitForMiss(CacheKey.Primary("https", host.Sidecar.HttpsAddress.Authority, "/fresh-each-time", null, [])), "the URL is remembered as not shareable");
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    public static TheoryData<string, string> DistinctTargets => new()
    {
        { "/raw/x%3Fa=1", "/raw/x?a=1" },
        { "/raw/a%252F", "/raw/a%2F" },
        { "/raw/b%2F", "/raw/b/" },
        { "/raw/p%23x", "/raw/p%2523x" },
        { "/raw/q?a=%26b", "/raw/q?a=&b" },
    };

    [Theory]
    [MemberData(nameof(DistinctTargets))]
    public async Task Get_TwoTargetsTheAppTellsApart_AreNeverServedEachOthersBody(string first, string second)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Fallback = EchoRawTarget;
        using var client = host.Sidecar.CreateClient();

        using var one = await client.GetAsync(Absolute(host, first));
        using var two = await client.GetAsync(Absolute(host, second));

        Assert.Equal("target " + first, await one.Content.ReadAsStringAsync());
        Assert.Equal("target " + second, await two.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Get_TargetsEquivalentUnderRfc3986_ShareAnEntry()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Fallback = EchoRawTarget;
        using var client = host.Sidecar.CreateClient();

        using var one = await client.GetAsync(Absolute(host, "/eq/a%3f"));
        await host.WaitUntilStoredAsync("/eq/a%3F");

        Assert.Equal(1, host.Upstream.Received.Count(r => r.Path.StartsWith("/eq/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Purge_UrlWithAnEncodedQuestionMark_PurgesThatTargetOnly()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Fallback = EchoRawTarget;
        using var client = host.Sidecar.CreateClient();
        using var encoded = await client.GetAsync(Absolute(host, "/pq/x%3Fa=1"));
        using var query = await client.GetAsync(Absolute(host, "/pq/x?a=1"));
        await host.WaitUntilStoredAsync("/pq/x%3Fa=1");
        await host.WaitUntilStoredAsync("/pq/x?a=1");

        await host.Sidecar.Services.GetRequiredService<IHttpCachePurger>().PurgeUrlAsync(Absolute(host, "/pq/x%3Fa=1"), soft: false, CancellationToken.None);

        using var encodedAgain = await client.GetAsync(Absolute(host, "/pq/x%3Fa=1"));
        using var queryAgain = await client.GetAsync(Absolute(host, "/pq/x?a=1"));
        Assert.DoesNotContain("; hit", encodedAgain.Headers.GetValues("Cache-Status").Single(), StringComparison.Ordinal);
        Assert.Contains("; hit", queryAgain.Headers.GetValues("Cache-Status").Single(), StringComparison.Ordinal);
    }

    public static TheoryData<string> ApiForms => ["/api/me", "/API/me", "/api;x/me", "//api/me", "/api%2Fme", "/Api/Me"];

    [Theory]
    [MemberData(nameof(ApiForms))]
    public async Task Get_BypassRule_AppliesToEveryFormOfThePathTheAppMaySee(string target)
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Cache:Rules:0:Name"] = "api",
            ["Sidecar:Cache:Rules:0:Path"] = "/api/**",
            ["Sidecar:Cache:Rules:0:Bypass"] = "true",
            ["Sidecar:Cache:Rules:1:Name"] = "pages",
            ["Sidecar:Cache:Rules:1:Path"] = "/**",
            ["Sidecar:Cache:Rules:1:DefaultTtl"] = "00:01:00",
        });
        var calls = 0;
        host.Upstream.Fallback = async context =>
        {
            await context.Response.WriteAsync("call " + Interlocked.Increment(ref calls));
        };
        using var client = host.Sidecar.CreateClient();

        using var first = await client.GetAsync(Absolute(host, target));
        using var second = await client.GetAsync(Absolute(host, target));

        Assert.Equal("ProxySidecar; fwd=bypass", second.Headers.GetValues("Cache-Status").Single());
        Assert.Equal("call 2", await second.Content.ReadAsStringAsync());
    }

    private static readonly string[] OverrideHeaders = ["X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override", "X-Forwarded-Scheme", "X-Forwarded-Server", "X-Host"];

    [Fact]
    public async Task Get_HeadersThatMakeTheAppReadAnotherUrlOrMethod_NeverReachTheApp()
    {
        await using var host = await CacheTestHost.StartAsync();
        using var response = await host.GetAsync("/override", r =>
        {
            foreach (var name in OverrideHeaders)
            {
                r.Headers.TryAddWithoutValidation(name, name == "X-Host" ? "evil.example" : "/admin");
            }
        });

        var received = host.Upstream.Received.Single(r => r.Path == "/override");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        foreach (var name in OverrideHeaders)
        {
            Assert.Null(received.Header(name));
        }
    }

    [Fact]
    public async Task Get_WithABody_IsNeitherLookedUpNorStored()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/search", host.Respond(200, ("Cache-Control", "max-age=60")));
        using var plain = await host.GetAsync("/search");
        await host.WaitUntilStoredAsync("/search");

        using var withBody = await host.GetAsync("/search", r => r.Content = new StringContent("{\"q\":\"secret\"}"));
        using var withBodyAgain = await host.GetAsync("/search", r => r.Content = new StringContent("{\"q\":\"other\"}"));

        Assert.Equal("v2", withBody.Body());
        Assert.Equal("v3", withBodyAgain.Body());
        Assert.Equal("ProxySidecar; fwd=request; detail=request-body", withBody.CacheStatus());
    }

    [Fact]
    public async Task Get_RecordInTheStoreIsMalformedOrHoldsAnotherKey_IsAMissNeverAnError()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Fallback = EchoRawTarget;
        var rejected = new List<string>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "proxysidecar.cache.entries.rejected")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            lock (rejected)
            {
                rejected.Add((string)tags[0].Value!);
            }
        });
        listener.Start();
        var store = host.Sidecar.Services.GetRequiredService<IOutputCacheStore>();
        var policy = host.Sidecar.Services.GetRequiredService<CachePolicyProvider>().Current;
        using var alice = await host.GetAsync("/untrusted/alice");
        await host.WaitUntilStoredAsync("/untrusted/alice");
        var aliceKey = CacheKey.PrimaryStoreKey(CacheKey.PrimaryFor(Absolute(host, "/untrusted/alice"), policy));
        var aliceRecord = (await store.GetAsync(aliceKey, CancellationToken.None))!;

        // Alice's record under Bob's key, and under Carol's a record whose first count says two billion.
        await store.SetAsync(CacheKey.PrimaryStoreKey(CacheKey.PrimaryFor(Absolute(host, "/untrusted/bob"), policy)), aliceRecord, null, TimeSpan.FromMinutes(5), CancellationToken.None);
        var malformed = (byte[])aliceRecord.Clone();
        var tagsEnd = malformed.AsSpan().IndexOf("\0\0\0\0"u8);
        BitConverter.TryWriteBytes(malformed.AsSpan(tagsEnd), int.MaxValue);
        await store.SetAsync(CacheKey.PrimaryStoreKey(CacheKey.PrimaryFor(Absolute(host, "/untrusted/carol"), policy)), malformed, null, TimeSpan.FromMinutes(5), CancellationToken.None);

        using var bob = await host.GetAsync("/untrusted/bob");
        using var carol = await host.GetAsync("/untrusted/carol");

        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);
        Assert.Equal("target /untrusted/bob", bob.Body());
        Assert.Equal(HttpStatusCode.OK, carol.StatusCode);
        Assert.Equal("target /untrusted/carol", carol.Body());
        lock (rejected)
        {
            Assert.Contains("key-mismatch", rejected);
            Assert.Contains("malformed", rejected);
        }
    }

    private static Uri Absolute(CacheTestHost host, string target) =>
        new($"{host.Sidecar.HttpsAddress.GetLeftPart(UriPartial.Authority)}{target}", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

    private static async Task EchoRawTarget(HttpContext context)
    {
        context.Response.Headers.CacheControl = "max-age=60";
        await context.Response.WriteAsync("target " + context.Features.Get<IHttpRequestFeature>()!.RawTarget);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
