using System.IO.Compression;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Compression;
using ProxySidecar.Tests.Compression;

namespace ProxySidecar.Tests.Caching;

/// <summary>Compressed representations beside stored entries: made once, then read; bound to the entry's key, variant and bytes.</summary>
public sealed class EncodedRepresentationsTests : IDisposable
{
    private static readonly byte[] Page = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("<li>an item of a long list</li>\n", 400)));

    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly MemoryCacheStore _memory;
    private readonly HttpCacheStore _store;
    private readonly CachePolicyProvider _cache;
    private readonly CompressionMetrics _metrics = CompressionTestSupport.NewMetrics();
    private readonly EncodedRepresentations _encodings;
    private readonly CompressionPolicy _compression = new(new CompressionOptions());

    public EncodedRepresentationsTests()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection().Build();
        _memory = new MemoryCacheStore(64L * 1024 * 1024, _time);
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        _cache = new CachePolicyProvider(configuration, new CacheOptionsValidator(), NullLogger<CachePolicyProvider>.Instance);
        var clock = new CacheClock(_time);
        _store = new HttpCacheStore(_memory, _cache, new CacheMetrics(meters, _memory), clock, NullLogger<HttpCacheStore>.Instance, configuration);
        _encodings = new EncodedRepresentations(_store, _metrics, clock, NullLogger<EncodedRepresentations>.Instance);
    }

    public void Dispose() => _cache.Dispose();

    private CacheEntry Entry(byte[] body, string primary = "https://h/page", string variant = "") =>
        CacheEntrySerializer.SerializeAndDecode(new CacheEntry
        {
            Kind = RecordKind.Response,
            VaryNames = [],
            Primary = primary,
            VariantHash = variant,
            Status = 200,
            RequestTimeMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
            ResponseTimeMs = _time.GetUtcNow().ToUnixTimeMilliseconds(),
            LifetimeMs = 60_000,
            Headers = [new("Content-Type", "text/html")],
            Body = body,
        }).Entry;

    private ValueTask<ReadOnlyMemory<byte>?> Get(CacheEntry entry, ContentCoding coding = ContentCoding.Brotli) =>
        _encodings.GetAsync(entry, coding, _compression, _cache.Current, CancellationToken.None);

    [Fact]
    public async Task FirstRequest_CompressesAndStores_LaterOnesReadTheStoredBytes()
    {
        var entry = Entry(Page);
        var before = _memory.Bytes;

        var first = await Get(entry);
        var second = await Get(Entry(Page));

        Assert.Equal(1, _metrics.StoredEncodes);
        Assert.Equal(first!.Value.ToArray(), second!.Value.ToArray());
        using var decoder = new BrotliStream(new MemoryStream(first.Value.ToArray()), CompressionMode.Decompress);
        using var decoded = new MemoryStream();
        decoder.CopyTo(decoded);
        Assert.Equal(Page, decoded.ToArray());

        // The store charges the representation as it holds it: its bytes and more.
        Assert.True(_memory.Bytes - before > first.Value.Length, $"{_memory.Bytes - before} charged for {first.Value.Length} bytes");
    }

    [Fact]
    public async Task EachCoding_IsItsOwnRepresentation()
    {
        var entry = Entry(Page);

        var brotli = await Get(entry, ContentCoding.Brotli);
        var gzip = await Get(entry, ContentCoding.Gzip);
        await Get(entry, ContentCoding.Gzip);

        Assert.Equal(2, _metrics.StoredEncodes);
        Assert.Equal(0x1f, gzip!.Value.Span[0]);
        Assert.NotEqual(brotli!.Value.ToArray(), gzip.Value.ToArray());
    }

    [Fact]
    public async Task ConcurrentFirstRequests_CompressOnce()
    {
        var entry = Entry(Page);

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () => await Get(entry))));

        Assert.Equal(1, _metrics.StoredEncodes);
        Assert.All(results, r => Assert.Equal(results[0]!.Value.ToArray(), r!.Value.ToArray()));
        Assert.Equal(0, _encodings.InFlight);
    }

    [Fact]
    public async Task BodyThatDoesNotShrink_IsServedAsStored_AndNotCompressedAgain()
    {
        var noise = new byte[4096];
        new Random(7).NextBytes(noise);
        var entry = Entry(noise);

        Assert.Null(await Get(entry));
        Assert.Null(await Get(entry));
        Assert.Equal(1, _metrics.StoredEncodes);
    }

    [Fact]
    public async Task ChangedBody_NeverMeetsTheOldRepresentation()
    {
        await Get(Entry(Page));
        var changed = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("<li>another item of the list</li>\n", 400)));

        var encoded = await Get(Entry(changed));

        Assert.Equal(2, _metrics.StoredEncodes);
        using var decoder = new BrotliStream(new MemoryStream(encoded!.Value.ToArray()), CompressionMode.Decompress);
        using var decoded = new MemoryStream();
        decoder.CopyTo(decoded);
        Assert.Equal(changed, decoded.ToArray());
    }

    [Fact]
    public async Task RecordOfAnotherEntry_PlantedUnderTheKey_IsRejectedAndReplaced()
    {
        var victim = Entry(Page, primary: "https://h/account", variant: "v1");
        var other = Entry(Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("<li>someone else's</li>\n", 400))), primary: "https://h/other");
        await Get(other);
        var planted = await _memory.GetAsync(other.EncodedStoreKey("br", 1), CancellationToken.None);
        await _memory.SetAsync(victim.EncodedStoreKey("br", 1), planted!, null, TimeSpan.FromMinutes(1), CancellationToken.None);

        var encoded = await Get(victim);

        Assert.Equal(2, _metrics.StoredEncodes);
        using var decoder = new BrotliStream(new MemoryStream(encoded!.Value.ToArray()), CompressionMode.Decompress);
        using var decoded = new MemoryStream();
        decoder.CopyTo(decoded);
        Assert.Equal(Page, decoded.ToArray());
    }

    [Fact]
    public async Task RepresentationPlantedUnderAnEntryKey_IsNeverAnEntry()
    {
        var entry = Entry(Page);
        await Get(entry);
        var representation = await _memory.GetAsync(entry.EncodedStoreKey("br", 1), CancellationToken.None);
        await _memory.SetAsync(CacheKey.PrimaryStoreKey(entry.Primary), representation!, null, TimeSpan.FromMinutes(1), CancellationToken.None);

        Assert.Null(await _store.GetAsync(entry.Primary, null, CancellationToken.None));
    }

    [Fact]
    public async Task Representation_CarriesTheEntrysTags_SoAPurgeRemovesIt()
    {
        var entry = Entry(Page);
        await Get(entry);

        await _memory.EvictByTagAsync(CacheTags.Url(entry.UrlHash), CancellationToken.None);

        Assert.Null(await _memory.GetAsync(entry.EncodedStoreKey("br", 1), CancellationToken.None));
    }
}
