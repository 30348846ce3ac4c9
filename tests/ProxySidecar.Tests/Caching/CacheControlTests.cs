using Microsoft.Extensions.Primitives;
using ProxySidecar.Caching;

namespace ProxySidecar.Tests.Caching;

public sealed class CacheControlTests
{
    [Fact]
    public void Parse_ResponseDirectives_AreRecognisedCaseInsensitively()
    {
        var cc = CacheControl.Parse("Public, MAX-AGE=60, s-maxage=\"30\", must-revalidate, stale-while-revalidate=5, stale-if-error=7");
        Assert.True(cc.Public);
        Assert.Equal(60, cc.MaxAge);
        Assert.Equal(30, cc.SharedMaxAge);
        Assert.True(cc.MustRevalidate);
        Assert.Equal(5, cc.StaleWhileRevalidate);
        Assert.Equal(7, cc.StaleIfError);
    }

    [Fact]
    public void Parse_QualifiedPrivateAndNoCache_CountAsUnqualified()
    {
        var cc = CacheControl.Parse("private=\"set-cookie, x\", no-cache=\"x\"");
        Assert.True(cc.Private);
        Assert.True(cc.NoCache);
    }

    [Fact]
    public void Parse_DuplicateDirective_FirstWins()
    {
        Assert.Equal(10, CacheControl.Parse(new StringValues(["max-age=10", "max-age=99"])).MaxAge);
    }

    [Fact]
    public void Parse_InvalidDeltaSeconds_CountsAsZero()
    {
        Assert.Equal(0, CacheControl.Parse("max-age=abc").MaxAge);
        Assert.Equal(0, CacheControl.Parse("s-maxage=-5").SharedMaxAge);
    }

    [Fact]
    public void Parse_HugeDeltaSeconds_IsClamped()
    {
        Assert.Equal(int.MaxValue, CacheControl.Parse("max-age=99999999999999999999").MaxAge);
    }

    [Fact]
    public void Parse_MaxStaleWithoutValue_MeansAnyStaleness()
    {
        Assert.Equal(CacheControl.Unlimited, CacheControl.Parse("max-stale").MaxStale);
        Assert.Equal(30, CacheControl.Parse("max-stale=30").MaxStale);
    }

    [Fact]
    public void Parse_RequestDirectives_AreRecognised()
    {
        var cc = CacheControl.Parse("no-cache, no-store, min-fresh=3, only-if-cached");
        Assert.True(cc.NoCache);
        Assert.True(cc.NoStore);
        Assert.Equal(3, cc.MinFresh);
        Assert.True(cc.OnlyIfCached);
        Assert.True(cc.Present);
    }

    [Fact]
    public void Parse_Empty_IsNotPresent()
    {
        Assert.False(CacheControl.Parse(StringValues.Empty).Present);
    }

    [Fact]
    public void PragmaNoCache_IsDetected()
    {
        Assert.True(CacheControl.PragmaNoCache("no-cache"));
        Assert.False(CacheControl.PragmaNoCache(StringValues.Empty));
    }
}
