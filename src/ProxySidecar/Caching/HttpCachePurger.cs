using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// Purges through the store only, so replicas sharing it see them: hard purges evict by store tag
/// (<see cref="CacheTags"/>), soft purges write a marker the lookups compare with each entry's response time.
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
        var done = soft
            ? await store.SetMarkerAsync(CacheTags.UrlMarker(hash), cancellationToken).ConfigureAwait(false)
            : await store.EvictByTagAsync(CacheTags.Url(hash), cancellationToken).ConfigureAwait(false);
        return Done("url", url.ToString(), soft, done);
    }

    public async ValueTask<PurgeResult> PurgeTagAsync(string tag, bool soft, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tag);
        var done = soft
            ? await store.SetMarkerAsync(CacheTags.TagMarker(tag), cancellationToken).ConfigureAwait(false)
            : await store.EvictByTagAsync(CacheTags.Tag(tag), cancellationToken).ConfigureAwait(false);
        return Done("tag", tag, soft, done);
    }

    public async ValueTask<PurgeResult> PurgeAllAsync(bool soft, CancellationToken cancellationToken)
    {
        var done = soft
            ? await store.SetMarkerAsync(CacheTags.AllMarker, cancellationToken).ConfigureAwait(false)
            : await store.EvictByTagAsync(CacheTags.All, cancellationToken).ConfigureAwait(false);
        return Done("all", "*", soft, done);
    }

    private PurgeResult Done(string kind, string target, bool soft, bool succeeded)
    {
        if (!succeeded)
        {
            throw new InvalidOperationException($"The cache store did not accept the {kind} purge of {target}; see the cache store errors.");
        }

        CacheLog.Purged(logger, kind, target, soft);
        return new PurgeResult(kind, target, soft, null);
    }
}
