using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching.Stores;

public sealed class SharedOutputCacheStoreTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FakeStore _redis = new();
    private readonly LocalCacheLevel _level;
    private readonly SharedOutputCacheStore _store;

    public SharedOutputCacheStoreTests()
    {
        var options = new CacheStoreOptions { Store = "Redis", Redis = new RedisStoreOptions { Configuration = "127.0.0.1:1" } };
        _level = new LocalCacheLevel(new LocalCacheOptions { Enabled = true, MaxTimeToLive = TimeSpan.FromSeconds(5) }, _time);

        // The connection is never used by reads and writes; it is only created.
        var connection = new RedisConnection(Options.Create(options), _time, NullLogger<RedisConnection>.Instance);
        var channel = new RedisPurgeChannel(connection, options.Redis, _level, _time, NullLogger<RedisPurgeChannel>.Instance);
        _store = new SharedOutputCacheStore(_redis, _level, channel, _time, NullLogger<SharedOutputCacheStore>.Instance);
    }

    [Fact]
    public async Task SetAsync_KeepsTagsAndExpiryWithTheEntryInTheSharedStore()
    {
        await _store.SetAsync("k", [9, 9], ["products"], TimeSpan.FromMinutes(1), default);

        var stored = await _redis.GetAsync("k", default);
        Assert.True(SharedEntryFormat.TryRead(stored!, out var expiresAt, out var tags, out var payload));
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromMinutes(1), expiresAt);
        Assert.Equal(["products"], tags);
        Assert.Equal([9, 9], payload);
    }

    [Fact]
    public async Task GetAsync_EntryWrittenByAnotherReplica_KeptInMemoryWithItsTags()
    {
        _redis.Put("k", SharedEntryFormat.Write([5], ["products"], _time.GetUtcNow() + TimeSpan.FromMinutes(1)));

        Assert.Equal([5], await _store.GetAsync("k", default));
        Assert.Equal(1, _redis.Gets);
        Assert.Equal([5], await _store.GetAsync("k", default));
        Assert.Equal(1, _redis.Gets);

        _level.EvictTag("products");
        Assert.Equal([5], await _store.GetAsync("k", default));
        Assert.Equal(2, _redis.Gets);
    }

    [Fact]
    public async Task GetAsync_EntryAboutToExpire_NotKeptInMemoryBeyondItsLifetime()
    {
        _redis.Put("k", SharedEntryFormat.Write([5], ["t"], _time.GetUtcNow() + TimeSpan.FromSeconds(1)));
        await _store.GetAsync("k", default);

        _time.Advance(TimeSpan.FromSeconds(1));
        _redis.Put("k", SharedEntryFormat.Write([6], ["t"], _time.GetUtcNow() + TimeSpan.FromSeconds(1)));

        Assert.Equal([6], await _store.GetAsync("k", default));
    }

    [Fact]
    public async Task GetAsync_UntaggedRecord_AlwaysReadFromRedis()
    {
        // Soft-purge markers carry no tags: an announcement could not reach a copy in memory.
        await _store.SetAsync("marker", [1], null, TimeSpan.FromMinutes(1), default);
        _redis.Put("marker", SharedEntryFormat.Write([2], [], _time.GetUtcNow() + TimeSpan.FromMinutes(1)));

        Assert.Equal([2], await _store.GetAsync("marker", default));
        Assert.Equal(0, _level.Count);
    }

    [Fact]
    public async Task InvalidateTagAsync_RedisBreakerOpen_FirstLevelDroppedAtOnceAndReportedNotReached()
    {
        var health = new SharedStoreHealth(_time);
        var resilient = new ResilientOutputCacheStore(
            _redis,
            new RedisStoreOptions { Breaker = new RedisBreakerOptions { MinimumThroughput = 2, SamplingDuration = TimeSpan.FromSeconds(30), BreakDuration = TimeSpan.FromMinutes(5) } },
            health,
            _time,
            NullLogger<ResilientOutputCacheStore>.Instance);
        var options = new CacheStoreOptions { Store = "Redis", Redis = new RedisStoreOptions { Configuration = "127.0.0.1:1" } };
        var connection = new RedisConnection(Options.Create(options), _time, NullLogger<RedisConnection>.Instance);
        var store = new SharedOutputCacheStore(resilient, _level, new RedisPurgeChannel(connection, options.Redis, _level, _time, NullLogger<RedisPurgeChannel>.Instance), _time, NullLogger<SharedOutputCacheStore>.Instance);
        _level.Set("k", [1], ["u:1"], TimeSpan.FromMinutes(1));
        _redis.Mode = FakeStore.Behaviour.Failing;
        for (var i = 0; i < 2; i++)
        {
            await resilient.GetAsync("other", default);
        }

        Assert.Equal(Polly.CircuitBreaker.CircuitState.Open, health.BreakerState);
        _redis.Mode = FakeStore.Behaviour.Hanging;

        var invalidation = store.InvalidateTagAsync("u:1", default);

        Assert.True(invalidation.IsCompleted, "an open breaker is not waited for");
        Assert.False(await invalidation);
        Assert.Null(_level.TryGet("k"));
        Assert.Equal(0, _redis.Evictions);
        Assert.Equal(1, health.Errors(StoreOperations.Evict));
    }

    [Fact]
    public async Task InvalidateTagAsync_StoreWithoutBreakerFails_FirstLevelDroppedAndReportedNotReached()
    {
        _level.Set("k", [1], ["u:1"], TimeSpan.FromMinutes(1));
        _redis.Mode = FakeStore.Behaviour.Failing;

        Assert.False(await _store.InvalidateTagAsync("u:1", default));
        Assert.Null(_level.TryGet("k"));
    }

    [Fact]
    public async Task GetAsync_ForeignBytesInRedis_IsAMiss()
    {
        _redis.Put("k", [1, 2, 3]);

        Assert.Null(await _store.GetAsync("k", default));
    }

    [Fact]
    public void Format_RoundTrips_AndRejectsTruncatedEntries()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        var bytes = SharedEntryFormat.Write([1, 2, 3], ["a", "ünïcode tag"], at);

        Assert.True(SharedEntryFormat.TryRead(bytes, out var expiresAt, out var tags, out var payload));
        Assert.Equal(at, expiresAt);
        Assert.Equal(["a", "ünïcode tag"], tags);
        Assert.Equal([1, 2, 3], payload);
        Assert.False(SharedEntryFormat.TryRead(bytes[..15], out _, out _, out _));
        Assert.False(SharedEntryFormat.TryRead([], out _, out _, out _));
    }
}
