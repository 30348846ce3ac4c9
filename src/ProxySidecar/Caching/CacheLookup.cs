using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>What <see cref="CacheLookup"/> reads: the store (<see cref="HttpCacheStore"/>), or a read-only view of it.</summary>
internal interface ICacheRecordReader
{
    long NowMs { get; }

    ValueTask<CacheEntry?> GetAsync(string primary, string? variantHash, CancellationToken cancellationToken);

    ValueTask<long> LatestMarkerAsync(string[] markerKeys, CancellationToken cancellationToken);
}

/// <summary>
/// Reads what the store holds for a request: the primary record (an entry, or the Vary names of the URL's
/// variants), the variant, and the purge markers that apply to it (a hard purge removes it, a soft one ends its
/// freshness).
/// </summary>
internal sealed class CacheLookup(ICacheRecordReader store)
{
    public async Task LookupAsync(CacheRequestContext context)
    {
        var aborted = context.Http.RequestAborted;
        var record = await store.GetAsync(context.Primary, null, aborted).ConfigureAwait(false);
        var entry = record;
        if (record is { Kind: RecordKind.Vary })
        {
            var variant = CacheKey.VariantHash(record.VaryNames, context.Request.Headers);
            entry = await store.GetAsync(context.Primary, variant, aborted).ConfigureAwait(false);
        }

        if (entry is not null && entry.ResponseTimeMs <= await store.LatestMarkerAsync(entry.EvictedMarkerKeys, aborted).ConfigureAwait(false))
        {
            // Hard-purged: stored after the eviction from a response that arrived before the purge.
            if (ReferenceEquals(record, entry))
            {
                record = null;
            }

            entry = null;
        }

        context.Record = record;
        context.Entry = entry;
        if (entry is not null && entry.MayServe(context.Credentials))
        {
            var purgedAt = await store.LatestMarkerAsync(entry.MarkerKeys, aborted).ConfigureAwait(false);
            context.View = EntryView.Create(entry, store.NowMs, purgedAt);
        }
    }
}
