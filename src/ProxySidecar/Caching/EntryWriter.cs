using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// Builds entries (from a captured response, or from a stored entry freshened by a 304) and writes them to the store,
/// with the Vary record of a URL that has variants.
/// </summary>
internal sealed class EntryWriter(HttpCacheStore store, RequestCoalescer coalescer, CacheClock clock)
{
    /// <summary>An entry and its stored bytes (the entry is their decoded twin).</summary>
    public readonly record struct Built(CacheEntry Entry, byte[] Bytes);

    /// <summary>An entry freshened by a 304; <see cref="Storable"/> false when the merged headers, as an answer to this request, may not be stored.</summary>
    public readonly record struct Freshened(CacheEntry Entry, byte[] Bytes, bool Storable, string? Detail);

    public static Built Build(UpstreamExchange exchange, ReadOnlyMemory<byte> body)
    {
        var decision = exchange.Decision;
        var variantHash = decision.VaryNames.Length == 0 ? string.Empty : CacheKey.VariantHash(decision.VaryNames, exchange.Context.Request.Headers);
        var (bytes, entry) = Entry(exchange, decision, exchange.Primary, variantHash, exchange.UpstreamStatus, exchange.Tags, exchange.StoredHeaders, body);
        return new Built(entry, bytes);
    }

    /// <summary>RFC 9111 §4.3.4: the stored headers are updated with those of the 304 (except the framing ones); times restart.</summary>
    public static Freshened Freshen(UpstreamExchange exchange)
    {
        var stale = exchange.Stale!;
        var notModified = exchange.Context.Response.Headers;
        var policy = exchange.Policy;
        var headers = new List<KeyValuePair<string, StringValues>>(stale.Headers.Length + 4);
        foreach (var header in stale.Headers)
        {
            if (!notModified.ContainsKey(header.Key) || IsFramingHeader(header.Key))
            {
                headers.Add(header);
            }
        }

        foreach (var header in notModified)
        {
            if (!IsFramingHeader(header.Key) && IsStorableHeader(header.Key, policy) && !header.Key.Equals(CacheStatusText.Header, StringComparison.OrdinalIgnoreCase))
            {
                headers.Add(new(header.Key, header.Value));
            }
        }

        var merged = new HeaderDictionary();
        foreach (var (name, value) in headers)
        {
            merged[name] = value;
        }

        // Judged as a response to this request: a 304 to a request with credentials (a HEAD answer, a refresh carrying
        // the client's cookies) is this requester's unless it says it may be shared, and a Set-Cookie on it (never
        // stored itself) still makes it personal.
        if (notModified.TryGetValue(HeaderNames.SetCookie, out var setCookie))
        {
            merged[HeaderNames.SetCookie] = setCookie;
        }

        var decision = StorageDecision.Evaluate(stale.Status, merged, exchange.Credentials, requestNoStore: false, exchange.Rule, policy, exchange.RequestTimeMs, exchange.ResponseTimeMs);

        // Not storable: the client is answered with the merged headers, stale from now on with the windows it had, and the
        // stored entry stays as it was.
        var applied = decision.Store
            ? decision with { VaryNames = stale.VaryNames }
            : new StorageDecision(false, decision.Detail, decision.ResponseReason, 0, 0, stale.StaleWhileRevalidateMs, stale.StaleIfErrorMs, stale.Flags, stale.VaryNames);
        var (bytes, entry) = Entry(exchange, applied, stale.Primary, stale.VariantHash, stale.Status, stale.Tags, [.. headers], stale.Body);
        return new Freshened(entry, bytes, decision.Store, decision.Detail);
    }

    private static (byte[] Bytes, CacheEntry Entry) Entry(UpstreamExchange exchange, StorageDecision decision, string primary, string variantHash, int status, string[] tags, KeyValuePair<string, StringValues>[] headers, ReadOnlyMemory<byte> body) =>
        CacheEntrySerializer.SerializeAndDecode(new CacheEntry
        {
            Kind = RecordKind.Response,
            VaryNames = decision.VaryNames,
            Primary = primary,
            VariantHash = variantHash,
            Status = status,
            RequestTimeMs = exchange.RequestTimeMs,
            ResponseTimeMs = exchange.ResponseTimeMs,
            CorrectedInitialAgeMs = decision.CorrectedInitialAgeMs,
            LifetimeMs = decision.LifetimeMs,
            StaleWhileRevalidateMs = decision.StaleWhileRevalidateMs,
            StaleIfErrorMs = decision.StaleIfErrorMs,
            Flags = decision.Flags,
            Tags = tags,
            Headers = headers,
            Body = body,
        });

    /// <returns>True when the store accepted the entry (with the Redis store: handed to its background writer).</returns>
    public async Task<bool> WriteAsync(CachePolicy policy, CacheEntry entry, byte[] bytes, CancellationToken cancellationToken)
    {
        var primary = entry.Primary;
        var urlHash = entry.UrlHash;
        var tags = CacheTags.StoreTagsFor(urlHash, entry.Tags);
        var validFor = new StorageDecision(true, null, false, entry.LifetimeMs, entry.CorrectedInitialAgeMs, entry.StaleWhileRevalidateMs, entry.StaleIfErrorMs, entry.Flags, entry.VaryNames)
            .ValidFor(policy, entry.HasValidators);
        bool stored;
        if (entry.VaryNames.Length == 0)
        {
            stored = await store.SetAsync(CacheKey.PrimaryStoreKey(primary), urlHash, bytes, tags, validFor, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var varyRecord = CacheEntrySerializer.Serialize(new CacheEntry { Kind = RecordKind.Vary, VaryNames = entry.VaryNames });
            var recordLifetime = TimeSpan.FromMilliseconds(policy.MaxEntryLifetimeMs);
            stored = await store.SetAsync(CacheKey.PrimaryStoreKey(primary), urlHash, varyRecord, CacheTags.StoreTagsFor(urlHash, []), recordLifetime, cancellationToken).ConfigureAwait(false)
                && await store.SetAsync(CacheKey.VariantStoreKey(primary, entry.VariantHash), urlHash, bytes, tags, validFor, cancellationToken).ConfigureAwait(false);
        }

        // A URL is no longer "uncacheable" once an entry that could answer waiting requests is stored for it.
        if (entry.MayAnswerWaiters(clock.NowMs))
        {
            coalescer.ClearHitForMiss(primary);
        }

        return stored;
    }

    /// <summary>The response headers an entry keeps.</summary>
    public static KeyValuePair<string, StringValues>[] Snapshot(IHeaderDictionary headers, CachePolicy policy)
    {
        var list = new List<KeyValuePair<string, StringValues>>(headers.Count);
        foreach (var header in headers)
        {
            if (IsStorableHeader(header.Key, policy))
            {
                list.Add(header);
            }
        }

        return [.. list];
    }

    /// <summary>Headers kept in an entry: not Set-Cookie, not Age, not hop-by-hop, not Surrogate-Key unless it is forwarded.</summary>
    public static bool IsStorableHeader(string name, CachePolicy policy) =>
        !(name.Equals(HeaderNames.SetCookie, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Age, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.KeepAlive, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ProxyAuthenticate, StringComparison.OrdinalIgnoreCase)
        || name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Trailer, StringComparison.OrdinalIgnoreCase)
        || (!policy.ForwardSurrogateKeyHeader && name.Equals(policy.SurrogateKeyHeader, StringComparison.OrdinalIgnoreCase)));

    private static bool IsFramingHeader(string name) =>
        name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentRange, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase);
}
