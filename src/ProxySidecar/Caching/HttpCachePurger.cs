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

        var hash = CacheKey.Hash(HttpCacheMiddleware.PrimaryFor(url, policies.Current));
        if (soft)
        {
            await store.SetMarkerAsync(CacheTags.UrlMarker(hash), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await store.SetMarkerAsync(CacheTags.UrlEvictedMarker(hash), cancellationToken).ConfigureAwait(false);
            await store.PurgeAsync(CacheTags.Url(hash), cancellationToken).ConfigureAwait(false);
        }

        return Done("url", url.ToString(), soft);
    }

    public async ValueTask<PurgeResult> PurgeTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tag);
        if (soft)
        {
            await store.SetMarkerAsync(CacheTags.TagMarker(tag), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await store.SetMarkerAsync(CacheTags.TagEvictedMarker(tag), cancellationToken).ConfigureAwait(false);
            await store.PurgeAsync(CacheTags.Tag(tag), cancellationToken).ConfigureAwait(false);
        }

        return Done("tag", tag, soft);
    }

    public async ValueTask<PurgeResult> PurgeAllAsync(bool soft, CancellationToken cancellationToken)
    {
        if (soft)
        {
            await store.SetMarkerAsync(CacheTags.AllMarker, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await store.SetMarkerAsync(CacheTags.AllEvictedMarker, cancellationToken).ConfigureAwait(false);
            await store.PurgeAsync(CacheTags.All, cancellationToken).ConfigureAwait(false);
        }

        return Done("all", "*", soft);
    }

    private PurgeResult Done(string kind, string target, bool soft)
    {
        CacheLog.Purged(logger, kind, target, soft);
        return new PurgeResult(kind, target, soft, null);
    }
}
