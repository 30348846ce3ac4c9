using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching.Stores;

public sealed class LocalCacheLevelTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void TryGet_EntryShorterLivedThanTheMaximum_GoneWhenTheEntryExpires()
    {
        var level = Level();
        level.Set("k", [1], [], TimeSpan.FromSeconds(2));

        _time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.NotNull(level.TryGet("k"));
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Null(level.TryGet("k"));
    }

    [Fact]
    public void TryGet_LongLivedEntry_KeptNoLongerThanTheMaximum()
    {
        var level = Level(maxTtl: TimeSpan.FromSeconds(5));
        level.Set("k", [1], [], TimeSpan.FromHours(1));

        _time.Advance(TimeSpan.FromSeconds(5));

        Assert.Null(level.TryGet("k"));
    }

    [Fact]
    public void EvictTag_RemovesTaggedEntriesOnly()
    {
        var level = Level();
        level.Set("a", [1], ["products", "p1"], TimeSpan.FromSeconds(5));
        level.Set("b", [2], ["products"], TimeSpan.FromSeconds(5));
        level.Set("c", [3], ["news"], TimeSpan.FromSeconds(5));

        Assert.Equal(2, level.EvictTag("products"));

        Assert.Null(level.TryGet("a"));
        Assert.Null(level.TryGet("b"));
        Assert.NotNull(level.TryGet("c"));
        Assert.Equal(0, level.EvictTag("p1"));
    }

    [Fact]
    public void EvictTag_EntryReplacedWithOtherTags_OnlyTheNewTagsCount()
    {
        var level = Level();
        level.Set("a", [1], ["old"], TimeSpan.FromSeconds(5));
        level.Set("a", [2], ["new"], TimeSpan.FromSeconds(5));

        Assert.Equal(0, level.EvictTag("old"));
        Assert.Equal([2], level.TryGet("a"));
        Assert.Equal(1, level.EvictTag("new"));
    }

    [Fact]
    public void Set_BeyondMaxBytes_DropsTheOldestAndStaysWithinTheBound()
    {
        // Room for three entries, each charged what it costs in memory (not only its 1000 bytes).
        var room = 3 * MemoryCacheStore.Charge("k0", new byte[1000], []);
        var level = Level(maxBytes: room, maxEntryBytes: 1000);
        for (var i = 0; i < 10; i++)
        {
            level.Set("k" + i, new byte[1000], [], TimeSpan.FromSeconds(5));
        }

        Assert.True(level.Bytes <= room);
        Assert.Equal(3, level.Count);
        Assert.Null(level.TryGet("k0"));
        Assert.NotNull(level.TryGet("k9"));
    }

    [Fact]
    public void Set_EntryLargerThanMaxEntryBytes_NotKept()
    {
        var level = Level(maxBytes: 10_000, maxEntryBytes: 100);

        level.Set("big", new byte[101], [], TimeSpan.FromSeconds(5));

        Assert.Null(level.TryGet("big"));
        Assert.Equal(0, level.Bytes);
    }

    [Fact]
    public void Clear_RemovesEverything()
    {
        var level = Level();
        level.Set("a", [1], ["t"], TimeSpan.FromSeconds(5));

        level.Clear();

        Assert.Null(level.TryGet("a"));
        Assert.Equal(0, level.Bytes);
    }

    private LocalCacheLevel Level(TimeSpan? maxTtl = null, long maxBytes = 1024 * 1024, long maxEntryBytes = 1024) =>
        new(new LocalCacheOptions { Enabled = true, MaxTimeToLive = maxTtl ?? TimeSpan.FromSeconds(5), MaxBytes = maxBytes, MaxEntryBytes = maxEntryBytes }, _time);
}
