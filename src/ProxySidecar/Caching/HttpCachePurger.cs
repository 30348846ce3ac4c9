using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// Purges through the store only, so replicas sharing it see them: hard purges write an eviction marker and then
/// evict by store tag (<see cref="CacheTags"/>); soft purges write a marker. Lookups compare both kinds of marker
/// with each entry's response time: the eviction marker catches an entry written after the eviction from a
/// response fetched before the purge.
/// A purge the store could not carry out throws (<see cref="SharedStoreUnavailableException"/> for Redis).
/// </summary>
internal sealed class HttpCachePurger(HttpCacheStore store, CachePolicyProvider policies, ILogger<HttpCachePurger> logger) : IHttpCachePurger
{
    public async ValueTask<PurgeResult> PurgeUrlAsync(Uri url, bool soft, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri)
        {
            throw new ArgumentException("The URL to purge must be absolute (scheme, host, path, query).", nameof(url));
        }

        var hash = CacheKey.Hash(CacheKey.PrimaryFor(url, policies.Current));
        return await PurgeAsync("url", url.ToString(), soft, CacheTags.UrlMarker(hash), CacheTags.UrlEvictedMarker(hash), CacheTags.Url(hash), cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<PurgeResult> PurgeTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tag);
        return PurgeAsync("tag", tag, soft, CacheTags.TagMarker(tag), CacheTags.TagEvictedMarker(tag), CacheTags.Tag(tag), cancellationToken);
    }

    public ValueTask<PurgeResult> PurgeAllAsync(bool soft, CancellationToken cancellationToken) =>
        PurgeAsync("all", "*", soft, CacheTags.AllMarker, CacheTags.AllEvictedMarker, CacheTags.All, cancellationToken);

    /// <summary>Soft: the soft-purge marker. Hard: the eviction marker first, then the eviction of the store tag.</summary>
    private async ValueTask<PurgeResult> PurgeAsync(string kind, string target, bool soft, string softMarker, string evictedMarker, string storeTag, CancellationToken cancellationToken)
    {
        if (soft)
        {
            await store.SetMarkerAsync(softMarker, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await store.SetMarkerAsync(evictedMarker, cancellationToken).ConfigureAwait(false);
            await store.PurgeAsync(storeTag, cancellationToken).ConfigureAwait(false);
        }

        CacheLog.Purged(logger, kind, target, soft);
        return new PurgeResult(kind, target, soft, null);
    }
}
