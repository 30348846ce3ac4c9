using Microsoft.Extensions.Primitives;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching.Stores;

public sealed class CacheEntrySerializerTests
{
    private static CacheEntry Sample() => new()
    {
        Kind = RecordKind.Response,
        VaryNames = ["accept-encoding"],
        Primary = "https://h/p?q=1",
        VariantHash = "abcd",
        Status = 203,
        RequestTimeMs = 1,
        ResponseTimeMs = 2,
        CorrectedInitialAgeMs = 3,
        LifetimeMs = 4,
        StaleWhileRevalidateMs = 5,
        StaleIfErrorMs = -1,
        Flags = CacheEntry.FlagMustRevalidate,
        Tags = ["t1", "t2"],
        Headers = [new("ETag", "\"x\""), new("X-Multi", new StringValues(["a", "b"]))],
        Body = "hello"u8.ToArray(),
    };

    [Fact]
    public void Serialize_RoundTripsEveryField()
    {
        var bytes = CacheEntrySerializer.Serialize(Sample());
        var entry = CacheEntrySerializer.Deserialize(bytes)!;
        Assert.Equal(RecordKind.Response, entry.Kind);
        Assert.Equal(["accept-encoding"], entry.VaryNames);
        Assert.Equal("https://h/p?q=1", entry.Primary);
        Assert.Equal((203, 1L, 2L, 3L, 4L, 5L, -1L), (entry.Status, entry.RequestTimeMs, entry.ResponseTimeMs, entry.CorrectedInitialAgeMs, entry.LifetimeMs, entry.StaleWhileRevalidateMs, entry.StaleIfErrorMs));
        Assert.True(entry.MustRevalidate);
        Assert.Equal(["t1", "t2"], entry.Tags);
        Assert.Equal("\"x\"", entry.ETag);
        Assert.Equal(new StringValues(["a", "b"]), entry.Headers[1].Value);
        Assert.Equal("hello"u8.ToArray(), entry.Body.ToArray());
    }

    [Fact]
    public void Deserialize_SameArray_ReusesTheDecodedEntry()
    {
        var bytes = CacheEntrySerializer.Serialize(Sample());
        Assert.Same(CacheEntrySerializer.Deserialize(bytes), CacheEntrySerializer.Deserialize(bytes));
    }

    [Fact]
    public void Deserialize_BodyIsASliceOfTheStoredArray()
    {
        var bytes = CacheEntrySerializer.Serialize(Sample());
        var entry = CacheEntrySerializer.Deserialize(bytes)!;
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(entry.Body, out var segment));
        Assert.Same(bytes, segment.Array);
    }

    [Fact]
    public void Deserialize_ForeignOrTruncatedBytes_IsNull()
    {
        Assert.Null(CacheEntrySerializer.Deserialize("not an entry"u8.ToArray()));
        var bytes = CacheEntrySerializer.Serialize(Sample());
        Assert.Null(CacheEntrySerializer.Deserialize(bytes[..^2]));
    }

    [Fact]
    public void Tags_AndMarkers_FollowTheDocumentedScheme()
    {
        Assert.Equal(["psc1:all", "psc1:url:0123456789abcdef", "psc1:tag:t1"], CacheTags.StoreTagsFor("0123456789abcdef", ["t1"]));
        Assert.Equal(["psc1:purge:all", "psc1:purge:url:0123456789abcdef", "psc1:purge:tag:t1"], CacheTags.MarkerKeysFor("0123456789abcdef", ["t1"]));
    }
}
