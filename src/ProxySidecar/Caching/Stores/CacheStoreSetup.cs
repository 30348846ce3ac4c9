using Microsoft.AspNetCore.OutputCaching;
using Microsoft.AspNetCore.OutputCaching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxySidecar.Admin;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// Chooses the store behind the HTTP cache. Memory (default) leaves the cache's own registration alone.
/// Redis replaces <see cref="IOutputCacheStore"/> with <see cref="SharedOutputCacheStore"/>: first level
/// (optional) → breaker and deadline (<see cref="ResilientOutputCacheStore"/>) → the stock Redis store,
/// which connects through <see cref="RedisConnection"/>.
/// </summary>
internal static class CacheStoreSetup
{
    /// <summary>The DI key of the stock Redis store the decorators wrap.</summary>
    internal const string RedisStoreKey = "ProxySidecar.Redis";

    /// <summary>The store behind the cache: memory (the cache's own default) or Redis, which replaces it.</summary>
    public static void AddSidecarCacheStore(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<CacheStoreOptions>().BindConfiguration(CacheStoreOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CacheStoreOptions>, CacheStoreOptionsValidator>();

        // The kind of store needs a restart: it decides the wiring.
        var store = builder.Configuration[CacheStoreOptions.Section + ":" + nameof(CacheStoreOptions.Store)];
        if (string.Equals(store, CacheStoreOptions.RedisStore, StringComparison.OrdinalIgnoreCase))
        {
            AddRedisStore(services);
        }
    }

    private static void AddRedisStore(IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<SharedStoreHealth>();
        services.AddSingleton<RedisConnection>();

        // The stock Redis store, taken out of the IOutputCacheStore slot and kept under a key for the decorators.
        services.AddStackExchangeRedisOutputCache(_ => { });
        services.AddOptions<RedisOutputCacheOptions>().Configure<IOptions<CacheStoreOptions>, RedisConnection>((redis, options, connection) =>
        {
            redis.InstanceName = options.Value.Redis.InstanceName;
            redis.ConnectionMultiplexerFactory = connection.GetIfReadyAsync;
        });
        var redisStore = services.Last(d => d.ServiceType == typeof(IOutputCacheStore) && !d.IsKeyedService);
        services.RemoveAll<IOutputCacheStore>();
        services.Add(ServiceDescriptor.KeyedSingleton(typeof(IOutputCacheStore), RedisStoreKey, redisStore.ImplementationType!));

        services.AddSingleton(sp =>
        {
            var redis = sp.GetRequiredService<IOptions<CacheStoreOptions>>().Value.Redis;
            return new LocalCacheHolder(redis.LocalCache.Enabled ? new LocalCacheLevel(redis.LocalCache, sp.GetRequiredService<TimeProvider>()) : null);
        });
        services.AddSingleton(sp => new ResilientOutputCacheStore(
            sp.GetRequiredKeyedService<IOutputCacheStore>(RedisStoreKey),
            sp.GetRequiredService<IOptions<CacheStoreOptions>>().Value.Redis,
            sp.GetRequiredService<SharedStoreHealth>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ResilientOutputCacheStore>>()));
        services.AddSingleton(sp => new RedisPurgeChannel(
            sp.GetRequiredService<RedisConnection>(),
            sp.GetRequiredService<IOptions<CacheStoreOptions>>().Value.Redis,
            sp.GetRequiredService<LocalCacheHolder>().Level,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<RedisPurgeChannel>>()));
        services.AddSingleton(sp => new SharedOutputCacheStore(
            sp.GetRequiredService<ResilientOutputCacheStore>(),
            sp.GetRequiredService<LocalCacheHolder>().Level,
            sp.GetRequiredService<RedisPurgeChannel>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SharedOutputCacheStore>>()));
        services.AddSingleton<IOutputCacheStore>(sp => sp.GetRequiredService<SharedOutputCacheStore>());
        services.RemoveAll<ICacheOccupancy>();
        services.AddSingleton<ICacheOccupancy>(sp => sp.GetRequiredService<LocalCacheHolder>());

        services.AddSingleton<SharedCacheMetrics>();
        services.AddSingleton<IStatusContributor, SharedCacheStatus>();
        services.AddHostedService<SharedCacheStartup>();
    }
}

/// <summary>
/// Starts connecting to Redis and listening for purges in the background: start-up never waits for Redis,
/// and a Redis that is down at start is picked up when it comes.
/// </summary>
internal sealed class SharedCacheStartup(RedisConnection connection, RedisPurgeChannel purgeChannel, ResilientOutputCacheStore store, SharedCacheMetrics metrics) : BackgroundService
{
    internal const string WarmUpKey = "__proxysidecar_warmup";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        GC.KeepAlive(metrics);
        await Task.Yield();
        try
        {
            await connection.GetAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or ObjectDisposedException or ArgumentException)
        {
            // Logged by the connection; the next use tries again.
        }

        // One read of a key that never exists, so the first request does not pay for initialising the read path.
        // A failure here is an ordinary miss, and counts like one.
        await store.GetAsync(WarmUpKey, stoppingToken).ConfigureAwait(false);

        await purgeChannel.SubscribeAsync(stoppingToken).ConfigureAwait(false);
    }
}
