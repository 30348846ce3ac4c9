using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using ProxySidecar.Caching;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>Limits, switches, purges, store failures, access log, metrics and configuration.</summary>
public sealed class CacheOperationsTests
{
    [Fact]
    public async Task Get_BodyLargerThanMaxEntryBytes_StreamsThroughUncached()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Cache:MaxEntryBytes"] = "1000" });
        host.Upstream.Map("/large", async context =>
        {
            context.Response.Headers.CacheControl = "max-age=60";
            for (var i = 0; i < 10; i++)
            {
                await context.Response.WriteAsync(new string('x', 500));
                await context.Response.Body.FlushAsync();
            }
        });
        host.Upstream.Map("/small", host.Respond(200, ("Cache-Control", "max-age=60")));

        using var first = await host.GetAsync("/large");
        using var second = await host.GetAsync("/large");
        using var small1 = await host.GetAsync("/small");
        using var small2 = await host.GetAsync("/small");

        Assert.Equal(5000, second.Body().Length);
        Assert.Equal(2, host.Hits("/large"));
        Assert.Equal(1, host.Hits("/small"));
    }

    [Fact]
    public async Task Get_StoreBeyondSizeLimitBytes_EvictsOrRefusesEntries()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Cache:SizeLimitBytes"] = "1048576",
            ["Sidecar:Cache:MaxEntryBytes"] = "600000",
        });
        host.Upstream.Fallback = async context =>
        {
            context.Response.Headers.CacheControl = "max-age=600";
            await context.Response.WriteAsync(new string('y', 400_000));
        };

        for (var round = 0; round < 2; round++)
        {
            foreach (var path in new[] { "/big/1", "/big/2", "/big/3", "/big/4" })
            {
                using var response = await host.GetAsync(path);
                Assert.Equal(400_000, response.Body().Length);
            }

            // The memory store compacts in the background after going over its limit.
            await Task.Delay(200);
        }

        Assert.True(host.Upstream.Count > 4, $"all four 400 kB entries stayed in a 1 MiB store ({host.Upstream.Count} app hits)");
    }

    [Fact]
    public async Task Get_CacheDisabled_IsPurePassThroughWithoutCacheStatus()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Cache:Enabled"] = "false" });
        host.Upstream.Map("/off", host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await host.GetAsync("/off");
        using var second = await host.GetAsync("/off");
        Assert.Equal("v2", second.Body());
        Assert.Equal(string.Empty, second.CacheStatus());
    }

    [Fact]
    public async Task Purge_Url_RemovesEveryVariant()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/p/url", host.Respond(200, ("Cache-Control", "max-age=600"), ("Vary", "Accept-Language")));
        using var en = await host.GetAsync("/p/url?x=1", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en"));
        using var de = await host.GetAsync("/p/url?x=1", r => r.Headers.TryAddWithoutValidation("Accept-Language", "de"));
        await host.WaitUntilStoredAsync("/p/url?x=1", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en"));
        await host.WaitUntilStoredAsync("/p/url?x=1", r => r.Headers.TryAddWithoutValidation("Accept-Language", "de"));
        var purger = host.Sidecar.Services.GetRequiredService<IHttpCachePurger>();

        var result = await purger.PurgeUrlAsync(new Uri(host.Sidecar.HttpsAddress, "/p/url?x=1"), soft: false, CancellationToken.None);
        using var en2 = await host.GetAsync("/p/url?x=1", r => r.Headers.TryAddWithoutValidation("Accept-Language", "en"));
        using var de2 = await host.GetAsync("/p/url?x=1", r => r.Headers.TryAddWithoutValidation("Accept-Language", "de"));

        Assert.Equal(("url", false), (result.Kind, result.Soft));
        Assert.Equal(["v3", "v4"], [en2.Body(), de2.Body()]);
    }

    [Fact]
    public async Task Purge_Tag_RemovesEntriesTaggedBySurrogateKeyOrRule()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Cache:Rules:0:Path"] = "/p/rule/**",
            ["Sidecar:Cache:Rules:0:Tags:0"] = "catalog",
        });
        host.Upstream.Map("/p/app", host.Respond(200, ("Cache-Control", "max-age=600"), ("Surrogate-Key", "catalog product-7")));
        host.Upstream.Map("/p/rule/x", host.Respond(200, ("Cache-Control", "max-age=600")));
        host.Upstream.Map("/p/untagged", host.Respond(200, ("Cache-Control", "max-age=600")));
        using var app1 = await host.GetAsync("/p/app");
        using var rule1 = await host.GetAsync("/p/rule/x");
        using var untagged1 = await host.GetAsync("/p/untagged");
        await host.WaitUntilStoredAsync("/p/app");
        await host.WaitUntilStoredAsync("/p/rule/x");
        await host.WaitUntilStoredAsync("/p/untagged");
        var purger = host.Sidecar.Services.GetRequiredService<IHttpCachePurger>();

        await purger.PurgeTagAsync("catalog", soft: false, CancellationToken.None);
        using var app2 = await host.GetAsync("/p/app");
        using var rule2 = await host.GetAsync("/p/rule/x");
        using var untagged2 = await host.GetAsync("/p/untagged");

        Assert.Null(app1.Header("Surrogate-Key"));
        Assert.Equal(["v2", "v2", "v1"], [app2.Body(), rule2.Body(), untagged2.Body()]);
    }

    /// <summary>
    /// The store write follows the client's response, so a hard purge can run between a response's arrival and the
    /// write of its entry. Modelled exactly: the entry's record is written back, as that late write would, after the
    /// purge evicted it; it must not be served.
    /// </summary>
    [Theory]
    [InlineData("tag")]
    [InlineData("url")]
    [InlineData("all")]
    public async Task Purge_Hard_EntryWrittenAfterTheEvictionFromAnEarlierResponse_IsNotServed(string kind)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/p/late", host.Respond(200, ("Cache-Control", "max-age=600"), ("Surrogate-Key", "late")));
        using var first = await host.GetAsync("/p/late");
        await host.WaitUntilStoredAsync("/p/late");
        var store = host.Sidecar.Services.GetRequiredService<IOutputCacheStore>();
        var url = new Uri(host.Sidecar.HttpsAddress, "/p/late");
        var primary = CacheKey.PrimaryFor(url, host.Sidecar.Services.GetRequiredService<ProxySidecar.Caching.Rules.CachePolicyProvider>().Current);
        var key = CacheKey.PrimaryStoreKey(primary);
        var record = await store.GetAsync(key, CancellationToken.None);
        Assert.NotNull(record);
        host.Time.Advance(TimeSpan.FromSeconds(1));
        var purger = host.Sidecar.Services.GetRequiredService<IHttpCachePurger>();

        _ = kind switch
        {
            "tag" => await purger.PurgeTagAsync("late", soft: false, CancellationToken.None),
            "url" => await purger.PurgeUrlAsync(url, soft: false, CancellationToken.None),
            _ => await purger.PurgeAllAsync(soft: false, CancellationToken.None),
        };
        await store.SetAsync(key, record, ProxySidecar.Caching.Stores.CacheTags.StoreTagsFor(CacheKey.Hash(primary), ["late"]), TimeSpan.FromMinutes(10), CancellationToken.None);
        using var second = await host.GetAsync("/p/late");

        Assert.Equal("v1", first.Body());
        Assert.Equal("v2", second.Body());
        Assert.DoesNotContain("hit", second.CacheStatus(), StringComparison.Ordinal);
    }

    /// <summary>An entry fetched after a hard purge is cached and served as usual.</summary>
    [Fact]
    public async Task Purge_Hard_ResponsesAfterThePurge_AreCachedAgain()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/p/again", host.Respond(200, ("Cache-Control", "max-age=600"), ("Surrogate-Key", "again")));
        using var first = await host.GetAsync("/p/again");
        await host.WaitUntilStoredAsync("/p/again");
        var purger = host.Sidecar.Services.GetRequiredService<IHttpCachePurger>();
        await purger.PurgeTagAsync("again", soft: false, CancellationToken.None);
        host.Time.Advance(TimeSpan.FromSeconds(1));

        using var second = await host.GetAsync("/p/again");
        await host.WaitUntilStoredAsync("/p/again");
        using var third = await host.GetAsync("/p/again");

        Assert.Equal(["v1", "v2", "v2"], [first.Body(), second.Body(), third.Body()]);
        Assert.StartsWith("ProxySidecar; hit", third.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Purge_All_RemovesEverything()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Fallback = host.Respond(200, ("Cache-Control", "max-age=600"));
        using var a1 = await host.GetAsync("/p/a");
        await host.WaitUntilStoredAsync("/p/a");
        var purger = host.Sidecar.Services.GetRequiredService<IHttpCachePurger>();
        await purger.PurgeAllAsync(soft: false, CancellationToken.None);
        using var a2 = await host.GetAsync("/p/a");
        Assert.Equal("v2", a2.Body());
    }

    [Fact]
    public async Task Purge_Soft_MarksStaleSoStaleWhileRevalidateStillApplies()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/p/soft", host.Respond(200, ("Cache-Control", "max-age=600, stale-while-revalidate=60"), ("Surrogate-Key", "soft")));
        host.Upstream.Map("/p/soft-plain", host.Respond(200, ("Cache-Control", "max-age=600"), ("ETag", "\"sp\"")));
        using var first = await host.GetAsync("/p/soft");
        using var plain1 = await host.GetAsync("/p/soft-plain");
        host.Time.Advance(TimeSpan.FromSeconds(1));
        var purger = host.Sidecar.Services.GetRequiredService<IHttpCachePurger>();

        await purger.PurgeTagAsync("soft", soft: true, CancellationToken.None);
        await purger.PurgeUrlAsync(new Uri(host.Sidecar.HttpsAddress, "/p/soft-plain"), soft: true, CancellationToken.None);
        host.Time.Advance(TimeSpan.FromSeconds(1));
        using var stale = await host.GetAsync("/p/soft");
        using var plain2 = await host.GetAsync("/p/soft-plain");

        Assert.Equal("v1", stale.Body());
        Assert.Contains("detail=stale-while-revalidate", stale.CacheStatus(), StringComparison.Ordinal);
        await CacheTestHost.EventuallyAsync(() => host.Hits("/p/soft") == 2, "the soft-purged entry is refreshed in the background");
        Assert.Contains("fwd=stale", plain2.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal("\"sp\"", host.Upstream.Received.Last(r => r.Path == "/p/soft-plain").Header("If-None-Match"));
    }

    [Fact]
    public async Task Get_StoreFails_RequestsStillSucceedAsMissesAndErrorsAreCounted()
    {
        var errors = new ConcurrentBag<string>();
        await using var host = await CacheTestHost.StartAsync(configureServices: services =>
        {
            services.RemoveAll<IOutputCacheStore>();
            services.AddSingleton<IOutputCacheStore, FailingStore>();
        });
        using var listener = ListenTo(host, "proxysidecar.cache.store.errors", (value, tags) => errors.Add((string)tags.First(t => t.Key == "operation").Value!));
        host.Upstream.Map("/broken-store", host.Respond(200, ("Cache-Control", "max-age=60")));

        using var first = await host.GetAsync("/broken-store");
        using var second = await host.GetAsync("/broken-store");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("v2", second.Body());
        Assert.Contains("get", errors);
        Assert.Contains("set", errors);
    }

    [Fact]
    public async Task Get_Lookups_AreCountedByResult()
    {
        var results = new ConcurrentBag<string>();
        await using var host = await CacheTestHost.StartAsync();
        using var listener = ListenTo(host, "proxysidecar.cache.lookups", (value, tags) => results.Add((string)tags.First(t => t.Key == "result").Value!));
        host.Upstream.Map("/counted", host.Respond(200, ("Cache-Control", "max-age=60")));
        using var first = await host.GetAsync("/counted");
        using var second = await host.GetAsync("/counted");
        Assert.Equal(["hit", "miss"], results.Order());
    }

    [Fact]
    public async Task AccessLog_CarriesTheCacheResult()
    {
        var lines = new ConcurrentQueue<string>();
        await using var host = await CacheTestHost.StartAsync(
            new Dictionary<string, string?> { ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information" },
            services => services.AddSingleton<ILoggerProvider>(new CapturingLoggerProvider(lines)));
        host.Upstream.Map("/logged", host.Respond(200, ("Cache-Control", "max-age=60")));
        host.Upstream.Map("/logged-uncacheable", host.Respond(200, ("Cache-Control", "no-store")));
        using var first = await host.GetAsync("/logged");
        using var second = await host.GetAsync("/logged");
        using var third = await host.GetAsync("/logged-uncacheable");
        await CacheTestHost.EventuallyAsync(() => lines.Count(l => l.Contains("/logged", StringComparison.Ordinal)) >= 3, "three access-log lines");
        var logged = lines.Where(l => l.Contains("/logged", StringComparison.Ordinal)).ToList();
        Assert.Contains(logged, l => l.Contains("/logged ", StringComparison.Ordinal) && l.Contains("cache=miss", StringComparison.Ordinal));
        Assert.Contains(logged, l => l.Contains("/logged ", StringComparison.Ordinal) && l.Contains("cache=hit", StringComparison.Ordinal));
        Assert.Contains(logged, l => l.Contains("/logged-uncacheable", StringComparison.Ordinal) && l.Contains("cache=uncacheable", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_BadCacheRule_FailsWithEveryBadKeyNamed()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Cache:MaxEntryBytes"] = "-1",
            ["Sidecar:Cache:Rules:0:Path"] = "static/**",
            ["Sidecar:Cache:Rules:1:Path"] = "/x",
            ["Sidecar:Cache:Rules:1:VaryHeaders:0"] = "Bad Header",
        }));
        var problems = string.Join("\n", StartupFailure.Describe(error));
        Assert.Contains("Sidecar:Cache:MaxEntryBytes", problems, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Cache:Rules:0:Path", problems, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Cache:Rules:1:VaryHeaders:0", problems, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reload_RulesChangeLive_AndABadReloadKeepsTheLastGoodTable()
    {
        using var temp = new TempDirectory();
        var file = temp.Combine("cache.json");
        await File.WriteAllTextAsync(file, """{ "Sidecar": { "Cache": { "Rules": [ { "Path": "/live/**", "Bypass": true } ] } } }""");
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:ConfigFile"] = file,
            ["Sidecar:ConfigFileReloadInterval"] = "00:00:00.1",
        });
        var policies = host.Sidecar.Services.GetRequiredService<ProxySidecar.Caching.Rules.CachePolicyProvider>();
        host.Upstream.Map("/live/page", host.Respond(200, ("Cache-Control", "max-age=600")));
        using var bypassed = await host.GetAsync("/live/page");
        Assert.Equal("ProxySidecar; fwd=bypass", bypassed.CacheStatus());

        await File.WriteAllTextAsync(file, """{ "Sidecar": { "Cache": { "Rules": [ { "Path": "/live/**", "ForcedTtl": "00:00:30" } ] } } }""");
        await CacheTestHost.EventuallyAsync(() => policies.Current.Rules.Length == 1 && !policies.Current.Rules[0].Bypass, "the new rules are live");
        var good = policies.Current;
        using var stored = await host.GetAsync("/live/page");
        using var hit = await host.GetAsync("/live/page");
        Assert.StartsWith("ProxySidecar; hit", hit.CacheStatus(), StringComparison.Ordinal);

        await File.WriteAllTextAsync(file, """{ "Sidecar": { "Cache": { "Rules": [ { "Path": "no-slash", "Bypass": true } ] } } }""");
        await host.Sidecar.WaitForStatusAsync(s => s["cache"]?["rules"] is not null, because: "status answers");
        await Task.Delay(500);
        Assert.Same(good, policies.Current);
        using var stillHit = await host.GetAsync("/live/page");
        Assert.StartsWith("ProxySidecar; hit", stillHit.CacheStatus(), StringComparison.Ordinal);
    }

    private static MeterListener ListenTo(CacheTestHost host, string instrumentName, Action<long, KeyValuePair<string, object?>[]> onMeasurement)
    {
        var factory = host.Sidecar.Services.GetRequiredService<IMeterFactory>();
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == instrumentName && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => onMeasurement(value, tags.ToArray()));
        listener.Start();
        return listener;
    }

    private sealed class FailingStore : IOutputCacheStore
    {
        public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken) => throw new InvalidOperationException("store down");

        public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => throw new InvalidOperationException("store down");

        public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken) => throw new InvalidOperationException("store down");
    }

    private sealed class CapturingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, lines);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (category == "ProxySidecar.AccessLog")
                {
                    lines.Enqueue(formatter(state, exception));
                }
            }
        }
    }
}
