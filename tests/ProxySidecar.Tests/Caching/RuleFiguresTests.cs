using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching;

public sealed class RuleFiguresTests
{
    private const long Minute = 60_000;

    /// <summary>12:00:30 on some day, in Unix ms.</summary>
    private static readonly long Noon = new DateTimeOffset(2030, 1, 1, 12, 0, 30, TimeSpan.Zero).ToUnixTimeMilliseconds();

    [Fact]
    public void Recent_CountsTheCurrentMinuteAndTheOnesBeforeItWithinTheWindow()
    {
        var figures = new RuleFigures("static");
        figures.Count(CacheResult.Hit, Noon - (6 * Minute));
        figures.Count(CacheResult.Miss, Noon - (4 * Minute));
        figures.Count(CacheResult.Hit, Noon - Minute);
        figures.Count(CacheResult.Hit, Noon);
        figures.Count(CacheResult.Bypass, Noon);

        var five = figures.Snapshot(Noon, 5);
        var fifteen = figures.Snapshot(Noon, 15);

        Assert.Equal((2, 3), (five.Recent.Hits, five.Recent.Cacheable));
        Assert.Equal((3, 4), (fifteen.Recent.Hits, fifteen.Recent.Cacheable));
        Assert.Equal(0.6667, five.Recent.HitRatio);
        Assert.Equal(3, fifteen.Totals[CacheResult.Hit]);
        Assert.Equal(1, fifteen.Totals[CacheResult.Bypass]);
    }

    [Fact]
    public void Recent_AMinuteSlotReusedSixteenMinutesLater_ForgetsWhatItHeld()
    {
        var figures = new RuleFigures("static");
        figures.Count(CacheResult.Hit, Noon);
        figures.Count(CacheResult.Hit, Noon);

        var later = Noon + (RuleFigures.RingMinutes * Minute);
        figures.Count(CacheResult.Miss, later);
        var snapshot = figures.Snapshot(later, 15);

        Assert.Equal((0, 1), (snapshot.Recent.Hits, snapshot.Recent.Cacheable));
        Assert.Equal(2, snapshot.Totals[CacheResult.Hit]);
        Assert.Equal(0, figures.Snapshot(later + (20 * Minute), 15).Recent.Cacheable);
    }

    [Fact]
    public void HitRatio_StaleAnswersAreHits_BypassesAreLeftOut_NoneWithoutLookups()
    {
        var figures = new RuleFigures("r");
        Assert.Null(figures.Snapshot(Noon, 15).Totals.HitRatio);

        figures.Count(CacheResult.Stale, Noon);
        figures.Count(CacheResult.Revalidated, Noon);
        figures.Count(CacheResult.Uncacheable, Noon);
        figures.Count(CacheResult.Bypass, Noon);

        Assert.Equal(0.3333, figures.Snapshot(Noon, 15).Totals.HitRatio);
    }

    [Fact]
    public void Table_PastMaxRules_CountsFurtherNamesAsOther()
    {
        var table = new RuleFiguresTable();
        for (var i = 0; i < RuleFiguresTable.MaxRules; i++)
        {
            Assert.Equal("r" + i, table.Label("r" + i));
        }

        Assert.Equal(RuleFiguresTable.OtherRules, table.Label("one-too-many"));
        Assert.Equal("r0", table.Label("r0"));
    }

    [Theory]
    [InlineData("psc1:e:https://h/static/app.css", "static")]
    [InlineData("psc1:e:https://h/static/app.css?v=1", "static")]
    [InlineData("psc1:e:https://h/static/app.css#0123456789abcdef", "static")]
    [InlineData("psc1:e:https://h:8443/static/a%20b.css?x=%2F", "static")]
    [InlineData("psc1:z:https://h/static/app.css#0123456789abcdef~br~f00d", "static")]
    [InlineData("psc1:e:https://h/api/orders", "api")]
    [InlineData("psc1:e:https://h/other", "(none)")]
    [InlineData("psc1:e:https://h", "root")]
    [InlineData("psc1:purge:all", "(none)")]
    public void RuleOf_AStoreKey_IsTheRuleAGetOfItsUrlMatches(string key, string rule)
    {
        var options = new CacheOptions();
        options.Rules.Add(new CacheRuleOptions { Name = "root", Path = "/" });
        options.Rules.Add(new CacheRuleOptions { Name = "static", Path = "/static/**" });
        options.Rules.Add(new CacheRuleOptions { Name = "api", Path = "/api/**", Bypass = true });

        Assert.Equal(rule, HttpCacheStore.RuleOf(key, new CachePolicy(options)));
    }

    [Theory]
    [InlineData("(none)", "is reserved")]
    [InlineData("(all)", "is reserved")]
    [InlineData("dup", "is also the name of rule 0")]
    public void Validate_RuleNames_AreUniqueAndNotReserved(string second, string expected)
    {
        var options = new CacheOptions();
        options.Rules.Add(new CacheRuleOptions { Name = "dup", Path = "/a/**" });
        options.Rules.Add(new CacheRuleOptions { Name = second, Path = "/b/**" });

        var result = new CacheOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Sidecar:Cache:Rules:1:Name: ", StringComparison.Ordinal) && f.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Inspect_MemoryStore_GivesNoSecondChance()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var (k0, b0, t0) = Caching.Stores.MemoryCacheStoreTests.Record("https://h/0");
        var (k1, b1, t1) = Caching.Stores.MemoryCacheStoreTests.Record("https://h/1");
        var (k2, b2, t2) = Caching.Stores.MemoryCacheStoreTests.Record("https://h/2");
        var one = MemoryCacheStore.Charge(k0, b0, t0);
        var store = new MemoryCacheStore((2 * one) + (one / 2), time);
        await store.SetAsync(k0, b0, t0, TimeSpan.FromMinutes(1), default);
        await store.SetAsync(k1, b1, t1, TimeSpan.FromMinutes(1), default);

        var inspected = await store.InspectAsync(k0, default);
        await store.SetAsync(k2, b2, t2, TimeSpan.FromMinutes(1), default);

        Assert.Same(b0, inspected.Value);
        Assert.Equal("memory store", inspected.HeldIn);
        Assert.Null((await store.InspectAsync(k0, default)).Value);
        Assert.NotNull(await store.GetAsync(k1, default));
    }
}
