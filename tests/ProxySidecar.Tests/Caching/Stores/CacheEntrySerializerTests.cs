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
    public void Deserialize_CountsBeyondTheBytesPresent_AreRejectedWithoutAllocatingThem()
    {
        // Header count at int.MaxValue, then a value count at int.MaxValue: either would allocate gigabytes if trusted.
        var bytes = CacheEntrySerializer.Serialize(Sample());
        var headerCountAt = IndexOfHeaderCount(bytes);
        var huge = (byte[])bytes.Clone();
        BitConverter.TryWriteBytes(huge.AsSpan(headerCountAt), int.MaxValue);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Null(CacheEntrySerializer.Deserialize(huge));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000, "a bad count must not be allocated");
    }

    [Fact]
    public void Deserialize_StringLengthBeyondTheBytesPresent_IsRejected()
    {
        var bytes = CacheEntrySerializer.Serialize(Sample());
        var primaryAt = IndexOf(bytes, "https://h/p?q=1"u8) - 1;
        var bad = (byte[])bytes.Clone();
        bad[primaryAt] = 0xFF; // 7-bit length continues...
        bad[primaryAt + 1] = 0xFF;
        Assert.Null(CacheEntrySerializer.Deserialize(bad));
    }

    [Theory]
    [InlineData("X-Bad\r\nInjected: yes", "v")]
    [InlineData("X-Ok", "a\r\nSet-Cookie: s=1")]
    [InlineData("X-Ok", "nul\0")]
    [InlineData("Bad Name", "v")]
    public void Deserialize_HeaderAResponseMayNotCarry_IsRejected(string name, string value)
    {
        var entry = Sample();
        var bytes = CacheEntrySerializer.Serialize(new CacheEntry
        {
            Kind = entry.Kind,
            VaryNames = entry.VaryNames,
            Primary = entry.Primary,
            VariantHash = entry.VariantHash,
            Status = entry.Status,
            Headers = [new(name, value)],
            Body = entry.Body,
        });
        Assert.Null(CacheEntrySerializer.Deserialize(bytes));
    }

    [Fact]
    public void Deserialize_ObsTextInAHeaderValue_RoundTrips()
    {
        var bytes = CacheEntrySerializer.Serialize(new CacheEntry
        {
            Kind = RecordKind.Response,
            VaryNames = [],
            Primary = "https://h/",
            Status = 200,
            Headers = [new("Content-Disposition", "attachment; filename=\"caf\u00e9.txt\"")],
        });
        Assert.Equal("attachment; filename=\"caf\u00e9.txt\"", CacheEntrySerializer.Deserialize(bytes)!.Headers[0].Value.ToString());
    }

    [Fact]
    public void Deserialize_EveryTruncationAndEveryByteFlipped_NeverThrows()
    {
        var bytes = CacheEntrySerializer.Serialize(Sample());
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Null(CacheEntrySerializer.Deserialize(bytes[..length]));
        }

        var random = new Random(42);
        for (var i = 0; i < 5_000; i++)
        {
            var mutated = (byte[])bytes.Clone();
            mutated[random.Next(4, mutated.Length)] = (byte)random.Next(256);
            _ = CacheEntrySerializer.Deserialize(mutated);
        }
    }

    private static int IndexOfHeaderCount(byte[] bytes)
    {
        // The tags "t1", "t2" are the last strings before the header count.
        return IndexOf(bytes, "t2"u8) + 2;
    }

    private static int IndexOf(byte[] bytes, ReadOnlySpan<byte> value) => bytes.AsSpan().IndexOf(value);

    [Fact]
    public void Tags_AndMarkers_FollowTheDocumentedScheme()
    {
        Assert.Equal(["psc1:all", "psc1:url:0123456789abcdef", "psc1:tag:t1"], CacheTags.StoreTagsFor("0123456789abcdef", ["t1"]));
        Assert.Equal(["psc1:purge:all", "psc1:purge:url:0123456789abcdef", "psc1:purge:tag:t1"], CacheTags.MarkerKeysFor("0123456789abcdef", ["t1"]));
    }

    private static CacheEntry Encoded(string coding = "br", string fingerprint = "0123456789abcdef0123456789abcdef", long sourceLength = 100, byte[]? body = null) => new()
    {
        Kind = RecordKind.Encoded,
        VaryNames = [],
        Primary = "https://h/p",
        VariantHash = "v",
        Coding = coding,
        SourceFingerprint = fingerprint,
        SourceLength = sourceLength,
        Body = body ?? [1, 2, 3],
    };

    [Fact]
    public void Encoded_RoundTrips()
    {
        var entry = CacheEntrySerializer.Deserialize(CacheEntrySerializer.Serialize(Encoded()))!;

        Assert.Equal((RecordKind.Encoded, "https://h/p", "v", "br", "0123456789abcdef0123456789abcdef", 100L), (entry.Kind, entry.Primary, entry.VariantHash, entry.Coding, entry.SourceFingerprint, entry.SourceLength));
        Assert.Equal(new byte[] { 1, 2, 3 }, entry.Body.ToArray());
        Assert.Empty(entry.Headers);
    }

    [Theory]
    [InlineData("deflate", "0123456789abcdef0123456789abcdef", 100L, 3)]
    [InlineData("br", "0123456789ABCDEF0123456789ABCDEF", 100L, 3)]
    [InlineData("br", "0123456789abcdef", 100L, 3)]
    [InlineData("br", "0123456789abcdef0123456789abcdef", 3L, 3)]
    [InlineData("br", "0123456789abcdef0123456789abcdef", 0L, 0)]
    public void Encoded_Malformed_IsNull(string coding, string fingerprint, long sourceLength, int bodyLength)
    {
        var bytes = CacheEntrySerializer.Serialize(Encoded(coding, fingerprint, sourceLength, new byte[bodyLength]));

        Assert.Null(CacheEntrySerializer.Deserialize(bytes));
    }

    [Fact]
    public void Encoded_WithVaryNames_IsNull()
    {
        var entry = Encoded();
        var bytes = CacheEntrySerializer.Serialize(new CacheEntry
        {
            Kind = entry.Kind, VaryNames = ["accept"], Primary = entry.Primary, VariantHash = entry.VariantHash, Coding = entry.Coding,
            SourceFingerprint = entry.SourceFingerprint, SourceLength = entry.SourceLength, Body = entry.Body,
        });

        Assert.Null(CacheEntrySerializer.Deserialize(bytes));
    }
}
