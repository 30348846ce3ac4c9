using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Caching;

namespace ProxySidecar.Tests.Caching;

public sealed class CacheKeyTests
{
    [Fact]
    public void Primary_LowerCasesSchemeAndHost_KeepsPathAndQueryExactly()
    {
        Assert.Equal("https://example.com:8443/Path/X?B=1&a=2", CacheKey.Primary("HTTPS", "Example.COM:8443", "/Path/X", "?B=1&a=2", []));
    }

    [Fact]
    public void Primary_DifferentPathCase_GivesDifferentKeys()
    {
        Assert.NotEqual(CacheKey.Primary("https", "h", "/admin", null, []), CacheKey.Primary("https", "h", "/Admin", null, []));
    }

    [Fact]
    public void FilterQuery_DropsIgnoredParametersByGlobAndKeepsOrder()
    {
        Assert.Equal("?b=2&a=1", CacheKey.FilterQuery("?utm_source=x&b=2&fbclid=9&a=1&utm_medium=y", ["utm_*", "fbclid"]));
        Assert.Equal(string.Empty, CacheKey.FilterQuery("?utm_source=x", ["utm_*"]));
        Assert.Equal("?a=1", CacheKey.FilterQuery("?a=1", ["utm_*"]));
    }

    [Fact]
    public void VaryNames_AreLowerCasedSortedAndMergedWithRuleHeaders()
    {
        Assert.Equal(["accept-encoding", "accept-language", "x-tenant"], CacheKey.VaryNames(new StringValues(["Accept-Language, Accept-Encoding", "accept-language"]), ["x-tenant"])!);
    }

    [Fact]
    public void VaryNames_Star_IsNull()
    {
        Assert.Null(CacheKey.VaryNames("Accept, *", []));
    }

    [Fact]
    public void VariantHash_AcceptEncodingOrderAndSpacing_DoNotMatter()
    {
        var a = new HeaderDictionary { ["Accept-Encoding"] = "gzip,  BR" };
        var b = new HeaderDictionary { ["Accept-Encoding"] = " br , gzip" };
        Assert.Equal(CacheKey.VariantHash(["accept-encoding"], a), CacheKey.VariantHash(["accept-encoding"], b));
    }

    [Fact]
    public void VariantHash_WhitespaceInsideValues_IsCollapsed()
    {
        var a = new HeaderDictionary { ["X-Mode"] = "a   b" };
        var b = new HeaderDictionary { ["X-Mode"] = " a b " };
        Assert.Equal(CacheKey.VariantHash(["x-mode"], a), CacheKey.VariantHash(["x-mode"], b));
    }

    [Fact]
    public void VariantHash_DifferentValuesOrAbsentHeader_Differ()
    {
        var en = new HeaderDictionary { ["Accept-Language"] = "en" };
        var de = new HeaderDictionary { ["Accept-Language"] = "de" };
        var empty = new HeaderDictionary { ["Accept-Language"] = "" };
        var none = new HeaderDictionary();
        var hashes = new[] { en, de, empty, none }.Select(h => CacheKey.VariantHash(["accept-language"], h)).ToHashSet();
        Assert.Equal(4, hashes.Count);
    }

    [Fact]
    public void Hash_IsShortAndStable()
    {
        var hash = CacheKey.Hash("https://h/p");
        Assert.Equal(16, hash.Length);
        Assert.Equal(hash, CacheKey.Hash("https://h/p"));
        Assert.NotEqual(hash, CacheKey.Hash("https://h/P"));
    }
}
