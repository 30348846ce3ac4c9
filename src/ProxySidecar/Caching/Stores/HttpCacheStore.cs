using System.Buffers.Binary;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.OutputCaching;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// The cache's only door to <see cref="IOutputCacheStore"/> (whatever implementation DI holds: memory,
/// Redis, a decorator). Reads, writes and invalidations are bounded by StoreTimeout (Redis bounds them
/// sooner, by its OperationTimeout and breaker); a failure is logged, counted once and becomes a miss or
/// a skipped write, never a failed request. Purges are bounded by the store (Redis: PurgeTimeout) and throw.
/// </summary>
internal sealed class HttpCacheStore : ICacheRecordReader
{
    private readonly IOutputCacheStore _store;
    private readonly CachePolicyProvider _policy;
    private readonly CacheMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<HttpCacheStore> _logger;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _markerCacheDuration;
    private readonly ConcurrentDictionary<string, MarkerRead> _markers = new(StringComparer.Ordinal);

    public HttpCacheStore(IOutputCacheStore store, CachePolicyProvider policy, CacheMetrics metrics, CacheClock clock, ILogger<HttpCacheStore> logger, Microsoft.Extensions.Options.IOptions<CacheOptions> cacheOptions)
    {
        _store = store;
        _policy = policy;
        _metrics = metrics;
        _time = clock.Time;
        _logger = logger;
        var options = cacheOptions.Value;
        _timeout = options.StoreTimeout;
        _markerCacheDuration = options.PurgeMarkerCacheDuration;
    }

    public long NowMs => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// The record for <paramref name="primary"/> (and, for a variant, <paramref name="variantHash"/>); null on a miss,
    /// a store failure, or a record that is not a well-formed entry for exactly that key. A store's bytes are untrusted:
    /// a rejected record is counted and logged (once per key for a while) and is a miss, never an error.
    /// </summary>
    public async ValueTask<CacheEntry?> GetAsync(string primary, string? variantHash, CancellationToken cancellationToken)
    {
        var key = variantHash is null ? CacheKey.PrimaryStoreKey(primary) : CacheKey.VariantStoreKey(primary, variantHash);
        var entry = await ReadAsync(key, primary, cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return null;
        }

        if (!IsRecordFor(entry, primary, variantHash))
        {
            Reject(primary, "key-mismatch");
            return null;
        }

        return entry;
    }

    /// <summary>
    /// The compressed representation of <paramref name="source"/> in <paramref name="coding"/>, held under
    /// <paramref name="key"/>; null on a miss, a failure, or a record that is not a representation of exactly that
    /// entry's key, variant and body.
    /// </summary>
    public async ValueTask<CacheEntry?> GetEncodedAsync(string key, CacheEntry source, string coding, CancellationToken cancellationToken)
    {
        var entry = await ReadAsync(key, source.Primary, cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return null;
        }

        if (entry.Kind != RecordKind.Encoded || entry.Primary != source.Primary || entry.VariantHash != source.VariantHash || entry.Coding != coding
            || entry.SourceFingerprint != source.BodyFingerprint || entry.SourceLength != source.Body.Length)
        {
            Reject(source.Primary, "key-mismatch");
            return null;
        }

        return entry;
    }

    private async ValueTask<CacheEntry?> ReadAsync(string key, string primary, CancellationToken cancellationToken)
    {
        byte[]? bytes;
        try
        {
            var pending = _store.GetAsync(key, cancellationToken);
            bytes = pending.IsCompletedSuccessfully ? pending.Result : await pending.AsTask().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.StoreError("get");
            CacheLog.StoreFailed(_logger, error, "get", CacheKey.Hash(primary));
            return null;
        }

        if (bytes is null)
        {
            return null;
        }

        var entry = CacheEntrySerializer.Deserialize(bytes);
        if (entry is null)
        {
            Reject(primary, "malformed");
        }

        return entry;
    }

    /// <summary>Whether <paramref name="entry"/> is the URL's Vary record or response that <see cref="GetAsync"/> looked up.</summary>
    private static bool IsRecordFor(CacheEntry entry, string primary, string? variantHash) =>
        entry.Kind == RecordKind.Vary
            ? variantHash is null
            : entry.Kind == RecordKind.Response && entry.Primary == primary && entry.VariantHash == (variantHash ?? string.Empty);

    /// <summary>The entry in <paramref name="bytes"/> when it is well formed and is what <see cref="GetAsync"/> would accept; otherwise null and why.</summary>
    private static CacheEntry? Decode(byte[] bytes, string primary, string? variantHash, out string? rejected)
    {
        var entry = CacheEntrySerializer.Deserialize(bytes);
        rejected = entry is null ? "malformed" : IsRecordFor(entry, primary, variantHash) ? null : "key-mismatch";
        return rejected is null ? entry : null;
    }

    /// <summary>
    /// What <see cref="GetAsync"/> would return, read without changing anything (nothing counted, logged, kept in a
    /// first level or given a second chance), with where the record is held. A failure is a record not found.
    /// </summary>
    public async ValueTask<(CacheEntry? Entry, string? HeldIn, string? Rejected)> InspectAsync(string primary, string? variantHash, CancellationToken cancellationToken)
    {
        var key = variantHash is null ? CacheKey.PrimaryStoreKey(primary) : CacheKey.VariantStoreKey(primary, variantHash);
        var read = await InspectKeyAsync(key, cancellationToken).ConfigureAwait(false);
        if (read.Value is null)
        {
            return (null, null, null);
        }

        var entry = Decode(read.Value, primary, variantHash, out var rejected);
        return (entry, read.HeldIn, rejected);
    }

    /// <summary>
    /// A purge marker's time (Unix ms, 0 when none) as the next lookup would see it: the read a lookup remembered,
    /// while it is reused, otherwise the store's; nothing is remembered.
    /// </summary>
    public async ValueTask<long> InspectMarkerAsync(string markerKey, CancellationToken cancellationToken)
    {
        if (_markers.TryGetValue(markerKey, out var read) && NowMs - read.ReadAtMs < _markerCacheDuration.TotalMilliseconds)
        {
            return read.Value;
        }

        var stored = await InspectKeyAsync(markerKey, cancellationToken).ConfigureAwait(false);
        var value = stored.Value is { Length: 8 } bytes ? BinaryPrimitives.ReadInt64BigEndian(bytes) : 0;
        return Math.Max(value, read?.Value ?? 0);
    }

    private async ValueTask<InspectedRecord> InspectKeyAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            if (_store is IInspectableStore inspectable)
            {
                return await inspectable.InspectAsync(key, cancellationToken).AsTask().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
            }

            var bytes = await _store.GetAsync(key, cancellationToken).AsTask().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
            return new InspectedRecord(bytes, bytes is null ? null : StoreLocations.Store);
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return default;
        }
    }

    private void Reject(string primary, string reason)
    {
        _metrics.EntryRejected(reason);
        var hash = CacheKey.Hash(primary);

        // Logged once per key while the set lasts; the set is bounded, so a flood of bad keys cannot grow it.
        if (_rejectedLogged.Count >= MaxRejectedLogged)
        {
            _rejectedLogged.Clear();
        }

        if (_rejectedLogged.TryAdd(hash, 0))
        {
            CacheLog.EntryRejected(_logger, hash, reason);
        }
    }

    private const int MaxRejectedLogged = 1024;
    private readonly ConcurrentDictionary<string, byte> _rejectedLogged = new(StringComparer.Ordinal);

    /// <summary>Writes a record; false when the store failed (logged and counted).</summary>
    public async ValueTask<bool> SetAsync(string key, string keyHash, byte[] bytes, string[] tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        try
        {
            await _store.SetAsync(key, bytes, tags, validFor, cancellationToken).AsTask().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.StoreError("set");
            CacheLog.StoreFailed(_logger, error, "set", keyHash);
            return false;
        }

        _metrics.Stored(bytes.Length, RuleOf(key, _policy.Current));
        return true;
    }

    /// <summary>
    /// The name of the rule a GET of the URL in <paramref name="key"/> (the store key of an entry, a Vary record or a
    /// compressed representation) matches, for the per-rule figures: the rule the request that produced the record matched.
    /// </summary>
    internal static string RuleOf(string key, CachePolicy policy)
    {
        var authority = key.IndexOf("://", StringComparison.Ordinal);
        if (!key.StartsWith(CacheKey.Prefix, StringComparison.Ordinal) || authority < 0)
        {
            return CompiledRule.None.Name;
        }

        var slash = key.IndexOf('/', authority + 3);
        if (slash < 0)
        {
            return policy.Match(HttpMethods.Get, "/").Name;
        }

        var end = key.IndexOfAny(['?', '#'], slash);
        var path = end < 0 ? key[slash..] : key[slash..end];
        return policy.Match(HttpMethods.Get, PathString.FromUriComponent(path).Value ?? "/").Name;
    }

    /// <summary>
    /// Invalidation after a successful unsafe request: never holds the response up on a failing store. A store
    /// that can evict on a request's behalf (<see cref="ISharedCacheInvalidation"/>: Redis behind its breaker)
    /// is asked to, and counts and logs its own failures; any other store is bounded by StoreTimeout here.
    /// False when the store was not reached (the entry stays until its freshness ends).
    /// </summary>
    public async ValueTask<bool> InvalidateAsync(string tag, CancellationToken cancellationToken)
    {
        bool reached;
        if (_store is ISharedCacheInvalidation shared)
        {
            reached = await shared.InvalidateTagAsync(tag, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            try
            {
                await _store.EvictByTagAsync(tag, cancellationToken).AsTask().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
                reached = true;
            }
            catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _metrics.StoreError(StoreOperations.Evict);
                CacheLog.StoreFailed(_logger, error, StoreOperations.Evict, tag);
                reached = false;
            }
        }

        return reached;
    }

    /// <summary>
    /// A purge (admin API): evicts <paramref name="tag"/> and throws when the store failed, so the caller can say
    /// so. The store owns the deadline (Redis: PurgeTimeout; the memory store answers at once); this layer adds none.
    /// </summary>
    public async ValueTask PurgeAsync(string tag, CancellationToken cancellationToken)
    {
        try
        {
            await _store.EvictByTagAsync(tag, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (CountsHere(error, cancellationToken))
        {
            _metrics.StoreError(StoreOperations.Evict);
            CacheLog.StoreFailed(_logger, error, StoreOperations.Evict, tag);
            throw;
        }
    }

    /// <summary>
    /// Writes a purge marker (soft, or the eviction marker a hard purge writes first) with the time now and
    /// remembers it locally at once; throws when the store failed. Like
    /// <see cref="PurgeAsync"/>, bounded by the store's own purge deadline.
    /// </summary>
    public async ValueTask SetMarkerAsync(string markerKey, CancellationToken cancellationToken)
    {
        var now = NowMs;
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, now);
        _markers[markerKey] = new MarkerRead(now, now);
        var lifetime = TimeSpan.FromMilliseconds(_policy.Current.MaxEntryLifetimeMs);
        try
        {
            await _store.SetAsync(markerKey, bytes, null, lifetime, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception error) when (CountsHere(error, cancellationToken))
        {
            _metrics.StoreError(StoreOperations.Set);
            CacheLog.StoreFailed(_logger, error, StoreOperations.Set, markerKey);
            throw;
        }
    }

    /// <summary>
    /// A failure the store below has not counted yet: the shared store counts its own failures (in the same metric)
    /// before throwing <see cref="SharedStoreUnavailableException"/>, and a caller's cancellation is no failure.
    /// </summary>
    private static bool CountsHere(Exception error, CancellationToken cancellationToken) =>
        error is not SharedStoreUnavailableException && (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested);

    /// <summary>
    /// The latest purge time (Unix ms) among <paramref name="markerKeys"/>, 0 when none. Marker reads are
    /// reused for PurgeMarkerCacheDuration, so a hit normally costs dictionary lookups, not store reads.
    /// </summary>
    public async ValueTask<long> LatestMarkerAsync(string[] markerKeys, CancellationToken cancellationToken)
    {
        long latest = 0;
        var now = NowMs;
        foreach (var key in markerKeys)
        {
            long value;
            if (_markers.TryGetValue(key, out var read) && now - read.ReadAtMs < _markerCacheDuration.TotalMilliseconds)
            {
                value = read.Value;
            }
            else
            {
                value = await ReadMarkerAsync(key, cancellationToken).ConfigureAwait(false);
                var previous = read?.Value ?? 0;
                value = Math.Max(value, previous);

                // Bounded: only checked when a marker was read from the store, never on a cached read
                // (ConcurrentDictionary.Count takes every lock). Reads older than the reuse window are worth nothing.
                if (_markers.Count >= MaxRememberedMarkers)
                {
                    PruneMarkers(now);
                }

                _markers[key] = new MarkerRead(value, now);
            }

            latest = Math.Max(latest, value);
        }

        return latest;
    }

    /// <summary>At most this many marker reads are remembered (a few hundred kilobytes).</summary>
    internal const int MaxRememberedMarkers = 4096;

    internal int RememberedMarkers => _markers.Count;

    private void PruneMarkers(long now)
    {
        foreach (var (key, read) in _markers)
        {
            if (now - read.ReadAtMs >= _markerCacheDuration.TotalMilliseconds)
            {
                _markers.TryRemove(new KeyValuePair<string, MarkerRead>(key, read));
            }
        }

        // Still full: every read is recent. Forgetting them costs only reads from the store.
        if (_markers.Count >= MaxRememberedMarkers)
        {
            _markers.Clear();
        }
    }

    private async ValueTask<long> ReadMarkerAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var pending = _store.GetAsync(key, cancellationToken);
            var bytes = pending.IsCompletedSuccessfully ? pending.Result : await pending.AsTask().WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
            return bytes is { Length: 8 } ? BinaryPrimitives.ReadInt64BigEndian(bytes) : 0;
        }
        catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            _metrics.StoreError("get");
            CacheLog.StoreFailed(_logger, error, "get", key);
            return 0;
        }
    }

    private sealed record MarkerRead(long Value, long ReadAtMs);
}
