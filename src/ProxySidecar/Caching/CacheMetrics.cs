using System.Diagnostics;
using System.Diagnostics.Metrics;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Caching;

/// <summary>
/// The cache's instruments. <c>proxysidecar.cache.entries</c>/<c>.bytes</c> count what this process
/// wrote to the store and has not seen expire or purged (hard purges by URL/tag/all are subtracted; the
/// memory store's own size-limit evictions are invisible to it, so the gauges are an upper bound).
/// </summary>
internal sealed class CacheMetrics
{
    private readonly Counter<long> _lookups;
    private readonly Counter<long> _storeErrors;
    private readonly Counter<long> _stores;
    private readonly Counter<long> _storedBytes;
    private readonly Counter<long> _rejected;

    public CacheMetrics(IMeterFactory meterFactory, CacheOccupancy occupancy)
    {
        var meter = meterFactory.Create(SidecarTelemetry.MeterName);
        _lookups = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheLookups, "{lookup}", "HTTP cache lookups by result.");
        _storeErrors = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheStoreErrors, "{error}", "Cache store operations that failed or timed out.");
        _stores = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheStores, "{entry}", "Responses written to the cache store.");
        _storedBytes = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheStoredBytes, "By", "Bytes written to the cache store.");
        _rejected = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheEntriesRejected, "{record}", "Records read from the store that were malformed or held another key; each was a miss.");
        meter.CreateObservableGauge(SidecarTelemetry.Instruments.CacheEntries, () => occupancy.Entries, "{entry}", "Entries this process stored that have not expired or been purged (upper bound).");
        meter.CreateObservableGauge(SidecarTelemetry.Instruments.CacheBytes, () => occupancy.Bytes, "By", "Bytes of the entries counted by proxysidecar.cache.entries.");
    }

    public void Lookup(string result) => _lookups.Add(1, new KeyValuePair<string, object?>("result", result));

    public void EntryRejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void StoreError(string operation) => _storeErrors.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void Stored(long bytes)
    {
        _stores.Add(1);
        _storedBytes.Add(bytes);
    }

    /// <summary>Span attributes on the current request's activity.</summary>
    public static void Annotate(string result, string? keyHash, long? ageSeconds, long? ttlSeconds)
    {
        var activity = Activity.Current;
        if (activity is null)
        {
            return;
        }

        activity.SetTag("proxysidecar.cache.result", result);
        if (keyHash is not null)
        {
            activity.SetTag("proxysidecar.cache.key_hash", keyHash);
        }

        if (ageSeconds is { } age)
        {
            activity.SetTag("proxysidecar.cache.age", age);
        }

        if (ttlSeconds is { } ttl)
        {
            activity.SetTag("proxysidecar.cache.ttl", ttl);
        }
    }
}

/// <summary>Entries and bytes this process stored, by store key, until they expire or are purged.</summary>
internal sealed class CacheOccupancy(CacheClock clock)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Bytes, long ExpiresMs, string[] Tags)> _entries = new(StringComparer.Ordinal);
    private long _lastPrune;

    public long Entries
    {
        get
        {
            Prune();
            return _entries.Count;
        }
    }

    public long Bytes
    {
        get
        {
            Prune();
            long total = 0;
            foreach (var entry in _entries)
            {
                total += entry.Value.Bytes;
            }

            return total;
        }
    }

    public void Stored(string key, long bytes, long expiresMs, string[] tags) => _entries[key] = (bytes, expiresMs, tags);

    public void EvictedTag(string tag)
    {
        foreach (var entry in _entries)
        {
            if (Array.IndexOf(entry.Value.Tags, tag) >= 0)
            {
                _entries.TryRemove(entry.Key, out _);
            }
        }
    }

    private void Prune()
    {
        var now = clock.Time.GetUtcNow().ToUnixTimeMilliseconds();
        if (now - Interlocked.Read(ref _lastPrune) < 1000)
        {
            return;
        }

        Interlocked.Exchange(ref _lastPrune, now);
        foreach (var entry in _entries)
        {
            if (entry.Value.ExpiresMs <= now)
            {
                _entries.TryRemove(entry.Key, out _);
            }
        }
    }
}
