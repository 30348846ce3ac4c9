namespace ProxySidecar.Caching;

/// <summary>
/// Invalidation the admin API (POST /cache/purge) calls. Implemented by the HTTP cache, which knows how
/// keys, variants and tags are formed. Hard purges remove entries; soft purges mark them stale so
/// stale-while-revalidate and stale-if-error still apply. Both must act through the configured
/// <c>IOutputCacheStore</c>, so that replicas sharing a store (Redis) see the same purge.
/// </summary>
internal interface IHttpCachePurger
{
    /// <summary>Every stored variant of <paramref name="url"/> (absolute: scheme, host, path, query).</summary>
    ValueTask<PurgeResult> PurgeUrlAsync(Uri url, bool soft, CancellationToken cancellationToken);

    /// <summary>Every entry carrying <paramref name="tag"/> (from a rule or the app's Surrogate-Key header).</summary>
    ValueTask<PurgeResult> PurgeTagAsync(string tag, bool soft, CancellationToken cancellationToken);

    /// <summary>Everything.</summary>
    ValueTask<PurgeResult> PurgeAllAsync(bool soft, CancellationToken cancellationToken);
}

/// <summary>What a purge did. <paramref name="Entries"/> is null when the store cannot count (tag eviction).</summary>
internal sealed record PurgeResult(string Kind, string Target, bool Soft, long? Entries);
