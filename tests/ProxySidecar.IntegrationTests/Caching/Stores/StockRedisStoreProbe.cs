using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.IntegrationTests.Caching.Stores;

/// <summary>
/// Sits between the sidecar's breaker and the stock Redis store (pass <see cref="Wrap"/> as configureServices):
/// counts the evictions that reach Redis, and can hold writes of cache entries (tagged writes) until released.
/// </summary>
public sealed class StockRedisStoreProbe
{
    private readonly object _gate = new();
    private TaskCompletionSource? _closed;
    private int _evictions;
    private int _heldWrites;

    public int Evictions => Volatile.Read(ref _evictions);

    /// <summary>Entry writes waiting at the closed gate.</summary>
    public int HeldWrites => Volatile.Read(ref _heldWrites);

    public void Wrap(IServiceCollection services)
    {
        var stock = services.Single(d => d.IsKeyedService && Equals(d.ServiceKey, CacheStoreSetup.RedisStoreKey) && d.ServiceType == typeof(IOutputCacheStore));
        services.Remove(stock);
        services.AddKeyedSingleton<IOutputCacheStore>(
            CacheStoreSetup.RedisStoreKey,
            (sp, _) => new Probe((IOutputCacheStore)ActivatorUtilities.CreateInstance(sp, stock.KeyedImplementationType!), this));
    }

    /// <summary>From now on, writes of cache entries wait until <see cref="OpenGate"/>.</summary>
    public void CloseGate()
    {
        lock (_gate)
        {
            _closed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void OpenGate()
    {
        lock (_gate)
        {
            _closed?.TrySetResult();
            _closed = null;
        }
    }

    private Task? Closed()
    {
        lock (_gate)
        {
            return _closed?.Task;
        }
    }

    private sealed class Probe(IOutputCacheStore inner, StockRedisStoreProbe owner) : IOutputCacheStore
    {
        public ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref owner._evictions);
            return inner.EvictByTagAsync(tag, cancellationToken);
        }

        public ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken) => inner.GetAsync(key, cancellationToken);

        public async ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
        {
            if (tags is { Length: > 0 } && owner.Closed() is { } closed)
            {
                Interlocked.Increment(ref owner._heldWrites);
                try
                {
                    await closed.ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref owner._heldWrites);
                }
            }

            await inner.SetAsync(key, value, tags, validFor, cancellationToken).ConfigureAwait(false);
        }
    }
}
