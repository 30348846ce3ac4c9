using Microsoft.AspNetCore.OutputCaching;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// The <see cref="IOutputCacheStore"/> the HTTP cache sees when the store is Redis: an optional in-memory
/// first level, then Redis behind the breaker. Entries are kept in Redis in <see cref="SharedEntryFormat"/>,
/// so any replica can keep an entry another replica wrote in its first level, for no longer than the
/// entry lives, and drop it when a purge of one of its tags is announced.
/// </summary>
internal sealed partial class SharedOutputCacheStore : IOutputCacheStore, ISharedCacheInvalidation, IInspectableStore
{
    private readonly IOutputCacheStore _shared;
    private readonly LocalCacheLevel? _localCache;
    private readonly RedisPurgeChannel _purges;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    public SharedOutputCacheStore(IOutputCacheStore shared, LocalCacheLevel? localCache, RedisPurgeChannel purges, TimeProvider timeProvider, ILogger<SharedOutputCacheStore> logger)
    {
        _shared = shared;
        _localCache = localCache;
        _purges = purges;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        if (_localCache?.TryGet(key) is { } local)
        {
            return local;
        }

        var stored = await _shared.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            return null;
        }

        if (!SharedEntryFormat.TryRead(stored, out var expiresAt, out var tags, out var payload))
        {
            Log.UnreadableEntry(_logger, key);
            return null;
        }

        var remaining = expiresAt - _timeProvider.GetUtcNow();
        if (remaining <= TimeSpan.Zero)
        {
            return null;
        }

        KeepLocally(key, payload, tags, remaining);
        return payload;
    }

    /// <summary>
    /// Reads <paramref name="key"/> from the first level and from Redis without keeping anything: the value a lookup
    /// would use (the first level's when it has one) and where the record is held.
    /// </summary>
    public async ValueTask<InspectedRecord> InspectAsync(string key, CancellationToken cancellationToken)
    {
        var local = _localCache?.Peek(key);
        byte[]? shared = null;
        var stored = await _shared.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (stored is not null && SharedEntryFormat.TryRead(stored, out var expiresAt, out _, out var payload) && expiresAt > _timeProvider.GetUtcNow())
        {
            shared = payload;
        }

        var location = (local, shared) switch
        {
            ({ }, { }) => StoreLocations.RedisAndFirstLevel,
            ({ }, null) => StoreLocations.FirstLevelOnly,
            (null, { }) => StoreLocations.Redis,
            _ => null,
        };
        return new InspectedRecord(local ?? shared, location);
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        tags ??= [];
        KeepLocally(key, value, tags, validFor);
        var stored = SharedEntryFormat.Write(value, tags, _timeProvider.GetUtcNow() + validFor);
        return _shared.SetAsync(key, stored, tags, validFor, cancellationToken);
    }

    public async ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
    {
        _localCache?.EvictTag(tag);
        await _shared.EvictByTagAsync(tag, cancellationToken).ConfigureAwait(false);
        try
        {
            await _purges.AnnounceTagAsync(tag, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Redis holds the purge; replicas that missed the announcement keep stale copies no longer than the first level's lifetime.
            Log.AnnounceFailed(_logger, tag, ex.Message);
        }

        // Anything this replica put back in memory while Redis was being purged goes too.
        _localCache?.EvictTag(tag);
    }

    /// <summary>
    /// Invalidation after an unsafe request: this replica's first level drops the tag at once; Redis is asked
    /// through the breaker within the operation timeout (skipped while the breaker is open); other replicas
    /// are told only when Redis was purged (otherwise they would read the same entry back from it), again
    /// within the operation timeout. Never throws for a failing Redis: false when Redis was not purged.
    /// </summary>
    public async ValueTask<bool> InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        _localCache?.EvictTag(tag);
        bool reached;
        if (_shared is ISharedCacheInvalidation invalidation)
        {
            reached = await invalidation.InvalidateTagAsync(tag, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            try
            {
                await _shared.EvictByTagAsync(tag, cancellationToken).ConfigureAwait(false);
                reached = true;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.InvalidationFailed(_logger, tag, ex.Message);
                reached = false;
            }
        }

        if (reached)
        {
            try
            {
                await _purges.AnnounceInvalidationAsync(tag, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.AnnounceFailed(_logger, tag, ex.Message);
            }
        }

        _localCache?.EvictTag(tag);
        return reached;
    }

    /// <summary>
    /// Only entries with tags are kept in memory: a purge can reach them through an announcement. Untagged
    /// records (such as soft-purge markers, which must be seen by every replica at once) are always read from Redis.
    /// </summary>
    private void KeepLocally(string key, byte[] value, string[] tags, TimeSpan timeToLive)
    {
        if (_localCache is null)
        {
            return;
        }

        if (tags.Length == 0)
        {
            _localCache.Remove(key);
            return;
        }

        _localCache.Set(key, value, tags, timeToLive);
    }

    private static partial class Log
    {
        [LoggerMessage(531, LogLevel.Warning, "Entry {Key} in Redis is not in the sidecar's format (written by something else?); treated as a miss.")]
        public static partial void UnreadableEntry(ILogger logger, string key);

        [LoggerMessage(532, LogLevel.Warning, "Purged tag {Tag} in Redis but could not announce it to other replicas; their in-memory copies expire on their own within seconds: {Reason}")]
        public static partial void AnnounceFailed(ILogger logger, string tag, string reason);

        [LoggerMessage(533, LogLevel.Warning, "Invalidation of tag {Tag} did not reach the shared store; an entry stored there stays until its freshness ends: {Reason}")]
        public static partial void InvalidationFailed(ILogger logger, string tag, string reason);
    }
}
