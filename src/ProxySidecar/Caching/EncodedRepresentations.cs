using System.Collections.Concurrent;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Compression;

namespace ProxySidecar.Caching;

/// <summary>
/// Compressed representations of stored entries, kept in the store beside them: one record per entry, coding and body
/// (<see cref="CacheKey.EncodedStoreKey"/>), carrying the entry's tags, so purges remove it with the entry and the size
/// limit counts its bytes as stored. The first hit asking for a coding compresses the body once (concurrent hits wait
/// for that one) and stores it; every later hit is served the stored bytes. A body that does not shrink is remembered
/// as such (an empty representation) and served as it is.
/// </summary>
internal sealed class EncodedRepresentations(HttpCacheStore store, CompressionMetrics metrics, CacheClock clock, ILogger<EncodedRepresentations> logger)
{
    private readonly ConcurrentDictionary<string, Task<ReadOnlyMemory<byte>?>> _encoding = new(StringComparer.Ordinal);

    /// <summary>Compressions under way (each one entry and coding).</summary>
    public int InFlight => _encoding.Count;

    /// <summary>The body of <paramref name="entry"/> in <paramref name="coding"/>; null when the entry is to be served as it is.</summary>
    public async ValueTask<ReadOnlyMemory<byte>?> GetAsync(CacheEntry entry, ContentCoding coding, CompressionPolicy compression, CachePolicy cache, CancellationToken cancellationToken)
    {
        var name = coding.Name();
        var key = entry.EncodedStoreKey(name, coding == ContentCoding.Brotli ? 1 : 0);
        if (await store.GetEncodedAsync(key, entry, name, cancellationToken).ConfigureAwait(false) is { } stored)
        {
            return stored.Body.IsEmpty ? (ReadOnlyMemory<byte>?)null : stored.Body;
        }

        var mine = new TaskCompletionSource<ReadOnlyMemory<byte>?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = _encoding.GetOrAdd(key, mine.Task);
        if (running != mine.Task)
        {
            return await running.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            var encoded = await EncodeAsync(key, entry, coding, compression.Quality(coding, stored: true), cache).ConfigureAwait(false);
            mine.SetResult(encoded);
            return encoded;
        }
        catch (Exception error)
        {
            CompressionLog.EncodeFailed(logger, error, entry.UrlHash);
            mine.SetResult(null);
            return null;
        }
        finally
        {
            _encoding.TryRemove(new KeyValuePair<string, Task<ReadOnlyMemory<byte>?>>(key, mine.Task));
        }
    }

    /// <summary>A response served from a stored representation (no compression work).</summary>
    public void Served(ContentCoding coding) => metrics.Served(coding, stored: true);

    private async Task<ReadOnlyMemory<byte>?> EncodeAsync(string key, CacheEntry entry, ContentCoding coding, int level, CachePolicy cache)
    {
        var compressed = Encoders.Compress(entry.Body.Span, coding, level);
        metrics.Encoded(coding, stored: true, entry.Body.Length, compressed.Length);
        var smaller = compressed.Length < entry.Body.Length;
        var (bytes, record) = CacheEntrySerializer.SerializeAndDecode(new CacheEntry
        {
            Kind = RecordKind.Encoded,
            VaryNames = [],
            Primary = entry.Primary,
            VariantHash = entry.VariantHash,
            Coding = coding.Name(),
            SourceFingerprint = entry.BodyFingerprint,
            SourceLength = entry.Body.Length,
            Body = smaller ? compressed : ReadOnlyMemory<byte>.Empty,
        });

        // Kept as long as the entry it was made from would be, counted from now.
        var keep = new StorageDecision(true, null, false, entry.LifetimeMs, entry.CorrectedInitialAgeMs, entry.StaleWhileRevalidateMs, entry.StaleIfErrorMs, entry.Flags, entry.VaryNames)
            .ValidFor(cache, entry.HasValidators) - TimeSpan.FromMilliseconds(Math.Max(0, clock.NowMs - entry.ResponseTimeMs));
        if (keep > TimeSpan.Zero)
        {
            await store.SetAsync(key, entry.UrlHash, bytes, CacheTags.StoreTagsFor(entry.UrlHash, entry.Tags), keep, CancellationToken.None).ConfigureAwait(false);
        }

        // The stored record's body: the bytes the store keeps, not a second copy.
        return smaller ? record.Body : (ReadOnlyMemory<byte>?)null;
    }
}
