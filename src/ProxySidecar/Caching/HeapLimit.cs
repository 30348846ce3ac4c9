using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// Bounds the managed heap by configuration rather than by traffic: the bytes the cache may hold in this process
/// (the memory store's SizeLimitBytes, or the first level in front of Redis) plus <c>Sidecar:Cache:HeapHeadroomBytes</c>
/// for everything else (requests in flight, buffers, bookkeeping). Without it the garbage collector sizes its budgets
/// by the machine, and garbage (evicted entries, finished requests) is let grow to several times what is alive.
/// Set only when it is lower than the limit the runtime already has (a container's memory limit gives one).
/// The in-flight share is kept within the headroom by <see cref="CaptureBudget"/>.
/// </summary>
internal static class HeapLimit
{
    /// <summary>The heap limit the configuration asks for; null when the headroom is 0 (off).</summary>
    public static long? Desired(CacheOptions cache, CacheStoreOptions store)
    {
        if (cache.HeapHeadroomBytes <= 0)
        {
            return null;
        }

        var held = string.Equals(store.Store, CacheStoreOptions.RedisStore, StringComparison.OrdinalIgnoreCase)
            ? (store.Redis.LocalCache.Enabled ? store.Redis.LocalCache.MaxBytes : 0)
            : cache.SizeLimitBytes;
        return held + cache.HeapHeadroomBytes;
    }

    /// <summary>
    /// Applies <see cref="Desired"/> when it is lower than the current limit; returns the limit in force. Process-wide:
    /// the executable calls it (in-process hosts, as in tests, share one heap and leave it alone).
    /// </summary>
    public static long Apply(IServiceProvider services)
    {
        var current = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var cache = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CacheOptions>>().Value;
        var store = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<CacheStoreOptions>>().Value;
        if (Desired(cache, store) is { } desired && desired < current)
        {
            AppContext.SetData("GCHeapHardLimit", (ulong)desired);
            GC.RefreshMemoryLimit();
        }

        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }
}

/// <summary>
/// Bytes that responses being captured for the store may hold at once (half the heap headroom). A capture that would
/// go beyond it is dropped and its response streams through uncached, so concurrent misses of large bodies cannot
/// push the process past its heap limit.
/// </summary>
internal sealed class CaptureBudget(long bytes)
{
    private long _available = bytes;

    public static CaptureBudget From(CacheOptions cache) => new(cache.HeapHeadroomBytes > 0 ? cache.HeapHeadroomBytes / 2 : long.MaxValue);

    public long Available => Interlocked.Read(ref _available);

    public bool TryReserve(long bytes)
    {
        if (Interlocked.Add(ref _available, -bytes) >= 0)
        {
            return true;
        }

        Interlocked.Add(ref _available, bytes);
        return false;
    }

    public void Release(long bytes) => Interlocked.Add(ref _available, bytes);
}
