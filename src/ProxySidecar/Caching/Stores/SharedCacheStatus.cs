using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using ProxySidecar.Admin;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// The "sharedCache" section of /status. A failing Redis makes the sidecar "degraded" here, never unready:
/// requests are still answered (from the app), only the cache misses.
/// </summary>
internal sealed class SharedCacheStatus(
    RedisConnection connection,
    SharedStoreHealth health,
    RedisPurgeChannel purgeChannel,
    LocalCacheHolder localCache,
    IOptions<CacheStoreOptions> options) : IStatusContributor
{
    public string Name => "sharedCache";

    public object GetStatus()
    {
        var connected = connection.IsConnected;
        var breaker = health.BreakerState;
        var storeError = health.LastError;
        var connectionError = connection.LastError;
        var lastError = storeError is null ? connectionError
            : connectionError is null ? storeError
            : storeError.At >= connectionError.At ? storeError : connectionError;
        var level = localCache.Level;
        return new SharedCacheStatusBody(
            Store: "redis",
            State: connected && breaker == CircuitState.Closed ? "ok" : "degraded",
            Endpoints: connection.Endpoints,
            InstanceName: options.Value.Redis.InstanceName,
            Connected: connected,
            Breaker: SharedStoreHealth.Describe(breaker),
            LastError: lastError,
            Errors: new StoreErrorCounts(health.Errors(StoreOperations.Get), health.Errors(StoreOperations.Set), health.Errors(StoreOperations.Evict)),
            Skipped: health.Skipped,
            PurgeChannelSubscribed: purgeChannel.Subscribed,
            LocalCache: new LocalCacheStatus(level is not null, level?.Count ?? 0, level?.Bytes ?? 0));
    }
}

internal sealed record SharedCacheStatusBody(
    string Store,
    string State,
    string Endpoints,
    string InstanceName,
    bool Connected,
    string Breaker,
    StoreError? LastError,
    StoreErrorCounts Errors,
    long Skipped,
    bool PurgeChannelSubscribed,
    LocalCacheStatus LocalCache);

internal sealed record StoreErrorCounts(long Get, long Set, long Evict);

internal sealed record LocalCacheStatus(bool Enabled, int Entries, long Bytes);

/// <summary>The first level, when enabled (a DI service cannot be null).</summary>
internal sealed record LocalCacheHolder(LocalCacheLevel? Level) : ICacheOccupancy
{
    /// <summary>With Redis, what this process holds is the first level (nothing when it is off).</summary>
    public long Entries => Level?.Count ?? 0;

    public long Bytes => Level?.Bytes ?? 0;
}

/// <summary>Breaker state, connection state and store errors as metrics.</summary>
internal sealed class SharedCacheMetrics
{
    public SharedCacheMetrics(IMeterFactory meterFactory, SharedStoreHealth health, RedisConnection connection, CacheMetrics cacheMetrics)
    {
        var meter = meterFactory.Create(SidecarTelemetry.MeterName);
        meter.CreateObservableGauge(
            SidecarTelemetry.Instruments.CacheBreakerState,
            () => health.BreakerGaugeValue,
            unit: "1",
            description: "Shared-store circuit breaker: 0 closed, 1 half-open, 2 open.");
        meter.CreateObservableGauge(
            SidecarTelemetry.Instruments.CacheRedisConnected,
            () => connection.IsConnected ? 1 : 0,
            unit: "1",
            description: "1 while the Redis connection is up.");

        // Failures the breaker absorbs count in the cache's own store-error counter (one instrument per name).
        health.ErrorRecorded += cacheMetrics.StoreError;
    }
}
