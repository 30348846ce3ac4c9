using Microsoft.Extensions.Primitives;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching.Stores;

public sealed class MemoryCacheStoreTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    private static string[] Tags(string url) => CacheTags.StoreTagsFor(CacheKey.Hash(url), []);

    /// <summary>A record as the cache writes it: a decoded entry with a few headers and a body.</summary>
    internal static (string Key, byte[] Bytes, string[] Tags) Record(string url, int bodyBytes = 1024)
    {
        var (bytes, _) = CacheEntrySerializer.SerializeAndDecode(new CacheEntry
        {
            Kind = RecordKind.Response,
            VaryNames = [],
            Primary = url,
            Status = 200,
            Headers =
            [
                new("Content-Type", "text/css"),
                new("Cache-Control", "public, max-age=600"),
                new("ETag", "\"0123456789abcdef\""),
                new("Last-Modified", "Tue, 01 Jan 2030 00:00:00 GMT"),
                new("Date", "Tue, 01 Jan 2030 00:00:00 GMT"),
                new("Server", "app"),
            ],
            Body = new byte[bodyBytes],
        });
        return (CacheKey.PrimaryStoreKey(url), bytes, Tags(url));
    }

    [Fact]
    public async Task Get_AfterSet_ReturnsTheSameArray_AndNothingOnceExpired()
    {
        var store = new MemoryCacheStore(1 << 20, _time);
        var (key, bytes, tags) = Record("https://h/a");
        await store.SetAsync(key, bytes, tags, TimeSpan.FromSeconds(10), default);

        Assert.Same(bytes, await store.GetAsync(key, default));
        _time.Advance(TimeSpan.FromSeconds(11));
        Assert.Null(await store.GetAsync(key, default));
        Assert.Equal(0, store.Entries);
        Assert.Equal(0, store.Bytes);
    }

    [Fact]
    public void Charge_CountsKeyTagsRecordDecodedEntryAndBookkeeping()
    {
        var (key, bytes, tags) = Record("https://h/a");
        var charge = MemoryCacheStore.Charge(key, bytes, tags);
        var decoded = CacheEntrySerializer.DecodedFootprint(bytes);

        Assert.True(decoded > 6 * 50, $"the decoded headers cost something ({decoded})");
        Assert.True(charge >= bytes.Length + decoded + MemoryCacheStore.RecordOverhead + (2 * key.Length), $"{charge}");
        Assert.Equal(0, CacheEntrySerializer.DecodedFootprint(new byte[8]));
    }

    [Fact]
    public async Task Set_DistinctUrlsFarBeyondTheLimit_BytesNeverExceedIt()
    {
        const long limit = 2 * 1024 * 1024;
        var store = new MemoryCacheStore(limit, _time);
        for (var i = 0; i < 20_000; i++)
        {
            var (key, bytes, tags) = Record($"https://h/assets/app.css?r={i}", 512);
            await store.SetAsync(key, bytes, tags, TimeSpan.FromMinutes(10), default);
            Assert.True(store.Bytes <= limit, $"{store.Bytes} after {i}");
        }

        Assert.InRange(store.Entries, 100, 20_000 - 1);
    }

    [Fact]
    public async Task Set_RecordLargerThanTheLimit_IsNotKept()
    {
        var store = new MemoryCacheStore(64 * 1024, _time);
        var (key, bytes, tags) = Record("https://h/big", 100 * 1024);
        await store.SetAsync(key, bytes, tags, TimeSpan.FromMinutes(1), default);
        Assert.Null(await store.GetAsync(key, default));
        Assert.Equal(0, store.Bytes);
    }

    [Fact]
    public async Task Eviction_ARecordReadSinceTheLastPass_GetsASecondChance()
    {
        var (k0, b0, t0) = Record("https://h/0");
        var one = MemoryCacheStore.Charge(k0, b0, t0);
        var store = new MemoryCacheStore((3 * one) + (one / 2), _time);
        await store.SetAsync(k0, b0, t0, TimeSpan.FromMinutes(1), default);
        var (k1, b1, t1) = Record("https://h/1");
        await store.SetAsync(k1, b1, t1, TimeSpan.FromMinutes(1), default);
        var (k2, b2, t2) = Record("https://h/2");
        await store.SetAsync(k2, b2, t2, TimeSpan.FromMinutes(1), default);
        Assert.NotNull(await store.GetAsync(k0, default));

        var (k3, b3, t3) = Record("https://h/3");
        await store.SetAsync(k3, b3, t3, TimeSpan.FromMinutes(1), default);

        Assert.NotNull(await store.GetAsync(k0, default));
        Assert.Null(await store.GetAsync(k1, default));
        Assert.NotNull(await store.GetAsync(k3, default));
    }

    [Fact]
    public async Task EvictByTag_RemovesOnlyTheRecordsCarryingIt()
    {
        var store = new MemoryCacheStore(1 << 20, _time);
        var (ka, ba, ta) = Record("https://h/a");
        var (kb, bb, tb) = Record("https://h/b");
        await store.SetAsync(ka, ba, [.. ta, "psc1:tag:x"], TimeSpan.FromMinutes(1), default);
        await store.SetAsync(kb, bb, tb, TimeSpan.FromMinutes(1), default);

        await store.EvictByTagAsync("psc1:tag:x", default);

        Assert.Null(await store.GetAsync(ka, default));
        Assert.NotNull(await store.GetAsync(kb, default));
        Assert.Equal(MemoryCacheStore.Charge(kb, bb, tb), store.Bytes);
        await store.EvictByTagAsync(CacheTags.All, default);
        Assert.Equal(0, store.Entries);
        Assert.Equal(0, store.Bytes);
    }

    [Fact]
    public async Task Set_SameKeyAgain_ReplacesWithoutCountingTwice()
    {
        var store = new MemoryCacheStore(1 << 20, _time);
        var (key, bytes, tags) = Record("https://h/a");
        var (_, newer, _) = Record("https://h/a", 2048);
        await store.SetAsync(key, bytes, tags, TimeSpan.FromMinutes(1), default);
        await store.SetAsync(key, newer, tags, TimeSpan.FromMinutes(1), default);

        Assert.Same(newer, await store.GetAsync(key, default));
        Assert.Equal(1, store.Entries);
        Assert.Equal(MemoryCacheStore.Charge(key, newer, tags), store.Bytes);
    }
}

/// <summary>Alone (no other test allocating meanwhile): the managed heap the store keeps stays within its limit.</summary>
[CollectionDefinition(nameof(MemoryBoundTests), DisableParallelization = true)]
public sealed class MemoryBoundTests;

[Collection(nameof(MemoryBoundTests))]
public sealed class MemoryCacheStoreBoundTests
{
    [Fact]
    public async Task HundredThousandDistinctUrls_ManagedMemoryStaysWithinTheLimitPlusAMargin()
    {
        const long limit = 16L * 1024 * 1024;

        // Other test classes may free objects while this one measures, which can only add to what is counted: the
        // smallest of three measurements is the closest to the store's own.
        var (charged, retained) = await FillAndMeasureAsync(limit);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            retained = Math.Min(retained, (await FillAndMeasureAsync(limit)).Retained);
        }

        Assert.True(charged <= limit);
        Assert.True(retained <= limit + (2 * 1024 * 1024), $"the store holds {retained / 1024} KiB for a limit of {limit / 1024} KiB ({charged / 1024} KiB charged)");
    }

    /// <summary>
    /// What the filled store keeps alive, measured as what a full collection frees once the store is dropped: objects
    /// other code allocates meanwhile are not counted (they outlive the store or were never reachable from it).
    /// </summary>
    private static async Task<(long Charged, long Retained)> FillAndMeasureAsync(long limit)
    {
        var store = new MemoryCacheStore(limit, TimeProvider.System);
        for (var i = 0; i < 100_000; i++)
        {
            var (key, bytes, tags) = MemoryCacheStoreTests.Record($"https://example.com:8443/assets/app.css?r={i:D8}", 256 + (i % 1024));
            await store.SetAsync(key, bytes, tags, TimeSpan.FromMinutes(10), default);
            _ = CacheEntrySerializer.Deserialize((await store.GetAsync(key, default))!)?.MarkerKeys;
        }

        var charged = store.Bytes;

        // Settle first: what other code lets go of on a full collection (pooled arrays trimmed by the runtime on a
        // gen-2 collection, objects waiting for finalizers) goes now, not between the two measurements below.
        for (var settle = 0; settle < 3; settle++)
        {
            GC.GetTotalMemory(forceFullCollection: true);
        }

        var filled = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(store);
        store = null;
        var released = GC.GetTotalMemory(forceFullCollection: true);
        return (charged, filled - released);
    }
}
