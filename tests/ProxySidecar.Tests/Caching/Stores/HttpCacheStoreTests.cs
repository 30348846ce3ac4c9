using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Tests.Caching.Stores;

/// <summary>
/// The cache's door to the store, in front of the Redis decorator (breaker and deadlines) over a fake Redis:
/// who owns which deadline, and how failures are counted.
/// </summary>
public sealed class HttpCacheStoreTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FakeStore _redis = new();
    private readonly SharedStoreHealth _health;
    private readonly ResilientOutputCacheStore _resilient;
    private readonly ServiceProvider _services;
    private readonly IMeterFactory _meterFactory;
    private readonly CachePolicyProvider _policy;
    private readonly HttpCacheStore _store;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<string> _storeErrors = new();

    public HttpCacheStoreTests()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Sidecar:Cache:StoreTimeout"] = "00:00:01",
        }).Build();
        _health = new SharedStoreHealth(_time);
        var redisOptions = new RedisStoreOptions
        {
            OperationTimeout = TimeSpan.FromMilliseconds(250),
            PurgeTimeout = TimeSpan.FromSeconds(5),
            Breaker = new RedisBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 4, SamplingDuration = TimeSpan.FromSeconds(30), BreakDuration = TimeSpan.FromMinutes(5) },
        };
        _resilient = new ResilientOutputCacheStore(_redis, redisOptions, _health, _time, NullLogger<ResilientOutputCacheStore>.Instance);
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _meterFactory = _services.GetRequiredService<IMeterFactory>();
        var clock = new CacheClock(_time);
        var metrics = new CacheMetrics(_meterFactory, new LocalCacheHolder(null));

        // Wired as in production: the decorator's failures reach the cache's store-error counter through the health events.
        var connectionOptions = Options.Create(new CacheStoreOptions { Store = "Redis", Redis = new RedisStoreOptions { Configuration = "127.0.0.1:1" } });
        _ = new SharedCacheMetrics(_meterFactory, _health, new RedisConnection(connectionOptions, _time, NullLogger<RedisConnection>.Instance), metrics);
        _policy = ProxySidecar.Tests.Caching.TestCacheOptions.Policy(configuration);
        _store = new HttpCacheStore(_resilient, _policy, metrics, clock, NullLogger<HttpCacheStore>.Instance, ProxySidecar.Tests.Caching.TestCacheOptions.Of(configuration));

        // Other tests record under the same meter name at the same time: listen to this factory's meters only.
        _listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SidecarTelemetry.MeterName && ReferenceEquals(instrument.Meter.Scope, _meterFactory)
                && instrument.Name == SidecarTelemetry.Instruments.CacheStoreErrors)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string? operation = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "operation")
                {
                    operation = tag.Value as string;
                }
            }

            _storeErrors.Enqueue(operation ?? "(no operation tag)");
        });
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _policy.Dispose();
        _services.Dispose();
    }

    [Fact]
    public async Task PurgeAsync_RedisHangs_WaitsForThePurgeTimeoutNotTheStoreTimeoutThenThrows()
    {
        _redis.Mode = FakeStore.Behaviour.Hanging;

        var purge = _store.PurgeAsync("t:products", default).AsTask();
        _time.Advance(TimeSpan.FromSeconds(2));
        await Task.Delay(50);
        Assert.False(purge.IsCompleted, "StoreTimeout (1 s) must not cut a purge short: Redis:PurgeTimeout (5 s) applies");
        _time.Advance(TimeSpan.FromSeconds(3));

        var error = await Assert.ThrowsAsync<SharedStoreUnavailableException>(() => purge.WaitAsync(Wait));
        Assert.Contains("5000 ms", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetMarkerAsync_RedisHangs_WaitsForThePurgeTimeoutNotTheStoreTimeoutThenThrows()
    {
        _redis.Mode = FakeStore.Behaviour.Hanging;

        var soft = _store.SetMarkerAsync("psc1:purge:all", default).AsTask();
        _time.Advance(TimeSpan.FromSeconds(2));
        await Task.Delay(50);
        Assert.False(soft.IsCompleted, "StoreTimeout (1 s) must not cut a soft purge short");
        _time.Advance(TimeSpan.FromSeconds(3));

        await Assert.ThrowsAsync<SharedStoreUnavailableException>(() => soft.WaitAsync(Wait));
    }

    [Fact]
    public async Task PurgeAsync_RedisFails_ThrowsAndCountsOneStoreError()
    {
        _redis.Mode = FakeStore.Behaviour.Failing;

        await Assert.ThrowsAsync<SharedStoreUnavailableException>(() => _store.PurgeAsync("t:products", default).AsTask());
        await Assert.ThrowsAsync<SharedStoreUnavailableException>(() => _store.SetMarkerAsync("psc1:purge:all", default).AsTask());

        Assert.Equal(["evict", "set"], _storeErrors.ToArray());
        Assert.Equal(1, _health.Errors(StoreOperations.Evict));
        Assert.Equal(1, _health.Errors(StoreOperations.Set));
    }

    [Fact]
    public async Task PurgeAsync_BreakerOpen_StillTriesRedis()
    {
        await OpenBreakerAsync();

        await _store.PurgeAsync("t:products", default);

        Assert.Equal(1, _redis.Evictions);
    }

    [Fact]
    public async Task InvalidateAsync_BreakerOpen_SkipsRedisAtOnceAndCountsOneEvictError()
    {
        await OpenBreakerAsync();
        _redis.Mode = FakeStore.Behaviour.Hanging;
        var errorsBefore = _storeErrors.Count;

        var invalidation = _store.InvalidateAsync("u:0123", default);

        Assert.True(invalidation.IsCompleted, "an open breaker answers at once: the response does not wait for Redis");
        Assert.False(await invalidation);
        Assert.Equal(0, _redis.Evictions);
        Assert.Equal(["evict"], _storeErrors.Skip(errorsBefore).ToArray());
        Assert.Equal(1, _health.Errors(StoreOperations.Evict));
        Assert.Contains("BrokenCircuit", _health.LastError!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidateAsync_RedisHangs_GivesUpAfterTheOperationTimeout()
    {
        _redis.Mode = FakeStore.Behaviour.Hanging;

        var invalidation = _store.InvalidateAsync("u:0123", default).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(260));

        Assert.False(await invalidation.WaitAsync(Wait));
        Assert.Equal(["evict"], _storeErrors.ToArray());
    }

    [Fact]
    public async Task InvalidateAsync_RedisWorks_EvictsTheTag()
    {
        Assert.True(await _store.InvalidateAsync("u:0123", default));

        Assert.Equal(1, _redis.Evictions);
        Assert.Empty(_storeErrors);
    }

    [Fact]
    public async Task InvalidateAsync_StoreWithoutBreakerHangs_GivesUpAfterTheStoreTimeout()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Sidecar:Cache:StoreTimeout"] = "00:00:01" }).Build();
        var clock = new CacheClock(_time);
        var plain = new HttpCacheStore(new FakeStore { Mode = FakeStore.Behaviour.Hanging }, _policy, new CacheMetrics(_meterFactory, new LocalCacheHolder(null)), clock, NullLogger<HttpCacheStore>.Instance, ProxySidecar.Tests.Caching.TestCacheOptions.Of(configuration));

        var invalidation = plain.InvalidateAsync("u:0123", default).AsTask();
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(await invalidation.WaitAsync(Wait));
        Assert.Equal(["evict"], _storeErrors.ToArray());
    }

    private async Task OpenBreakerAsync()
    {
        _redis.Mode = FakeStore.Behaviour.Failing;
        for (var i = 0; i < 4; i++)
        {
            await _resilient.GetAsync("k", default);
        }

        Assert.Equal(CircuitState.Open, _health.BreakerState);
        _redis.Mode = FakeStore.Behaviour.Working;
        while (_storeErrors.TryDequeue(out _))
        {
        }
    }
}
