using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching;

/// <summary>Strict dates and fields, ranges, unsafe methods and Vary normalisation: the pure parts.</summary>
public sealed class CacheCompletenessTests
{
    [Theory]
    [InlineData("Sun, 06 Nov 1994 08:49:37 GMT", true)]
    [InlineData("Sunday, 06-Nov-94 08:49:37 GMT", true)]
    [InlineData("Sun Nov  6 08:49:37 1994", true)]
    [InlineData("Sun Nov 16 08:49:37 1994", true)]
    [InlineData("Mon, 06 Nov 1994 08:49:37 GMT", true)] // a wrong day name is not checked against the date
    [InlineData("Sun,  06 Nov 1994 08:49:37 GMT", false)]
    [InlineData("Sun, 06 Nov 1994  08:49:37 GMT", false)]
    [InlineData("Sun, 06-Nov-1994 08:49:37 GMT", false)]
    [InlineData("Sunday, 06 Nov 94 08:49:37 GMT", false)]
    [InlineData("Sun, 06 Nov 1994 8:49:37 GMT", false)]
    [InlineData("Sun, 6 Nov 1994 08:49:37 GMT", false)]
    [InlineData("Sun, 06 nov 1994 08:49:37 GMT", false)]
    [InlineData("Sun, 06 Nov 1994 08:49:37 UTC", false)]
    [InlineData("Sun, 06 Nov 1994 08:49:37 +0000", false)]
    [InlineData("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", false)]
    [InlineData("Sun, 30 Feb 1994 08:49:37 GMT", false)]
    [InlineData("Sun, 06 Nov 1994 24:00:00 GMT", false)]
    [InlineData("1994-11-06T08:49:37Z", false)]
    [InlineData("0", false)]
    [InlineData("", false)]
    public void HttpDate_AcceptsTheThreeFormsOnly(string value, bool valid)
    {
        Assert.Equal(valid, HttpDate.TryParse(value, out var ms));
        if (valid && value.Contains("1994", StringComparison.Ordinal) && value.Contains("06", StringComparison.Ordinal))
        {
            Assert.Equal(new DateTimeOffset(1994, 11, 6, 8, 49, 37, TimeSpan.Zero).ToUnixTimeMilliseconds(), ms);
        }
    }

    [Fact]
    public void ExplicitLifetime_SeveralExpiresLines_IsAlreadyExpired()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.Equal(0, Freshness.ExplicitLifetimeOfFields(default, new StringValues(["Thu, 01 Jan 2099 00:00:00 GMT", "Thu, 01 Jan 2099 00:00:00 GMT"]), now, now));
        Assert.Equal(0, Freshness.ExplicitLifetime(default, "Thu,  01 Jan 2099 00:00:00 GMT", now, now));
        Assert.True(Freshness.ExplicitLifetime(default, "Thu, 01 Jan 2099 00:00:00 GMT", now, now) > 0);
    }

    [Theory]
    [InlineData("max-age = 60", 0)]
    [InlineData("max-age =60", 0)]
    [InlineData("max-age= 60", 0)]
    [InlineData("max-age=1.5", 0)]
    [InlineData("max-age=60s", 0)]
    [InlineData("max-age=+60", 0)]
    [InlineData("max-age=60, max-age=5", 5)]
    [InlineData("max-age=5, max-age=60", 5)]
    [InlineData("max-age=\"60\"", 60)]
    public void CacheControl_EdgeValues(string value, int maxAge)
    {
        Assert.Equal(maxAge, CacheControl.Parse(value).MaxAge);
    }

    [Fact]
    public void CacheControl_DuplicatedDirectives_TakeTheMostRestrictive()
    {
        var cc = CacheControl.Parse(new StringValues(["s-maxage=100, min-fresh=5", "s-maxage=20, min-fresh=30, max-stale=50, max-stale=10"]));
        Assert.Equal(20, cc.SharedMaxAge);
        Assert.Equal(30, cc.MinFresh);
        Assert.Equal(10, cc.MaxStale);
    }

    [Theory]
    [InlineData("max-age=60", true, 60)]
    [InlineData("max-age=60, must-revalidate", true, 60)]
    [InlineData("max-age=60;foo=bar, no-store=?0", true, 60)]
    [InlineData("private=(\"set-cookie\")", true, null)]
    [InlineData("max-age=60, x-custom=\"anything\", y=(1 2), z=:AQID:", true, 60)]
    [InlineData("max-age=\"60\"", false, null)]
    [InlineData("max-age=1.5", false, null)]
    [InlineData("max-age=-1", false, null)]
    [InlineData("max-age=60s", false, null)]
    [InlineData("no-store=3", false, null)]
    [InlineData("public=\"yes\"", false, null)]
    [InlineData("Max-Age=60", false, null)]
    [InlineData("max-age=60,", false, null)]
    [InlineData("max-age=60 no-store", false, null)]
    [InlineData("", false, null)]
    public void TargetedCacheControl_IsAStructuredFieldDictionary(string value, bool valid, int? maxAge)
    {
        Assert.Equal(valid, TargetedCacheControl.TryParse(value, out var cc));
        if (valid)
        {
            Assert.Equal(maxAge, cc.MaxAge);
        }
    }

    [Fact]
    public void Evaluate_InvalidTargetedField_IsIgnoredAndCacheControlApplies()
    {
        var policy = new CachePolicy(new CacheOptions { TargetedCacheControlHeader = "CDN-Cache-Control" });
        var headers = new HeaderDictionary { ["Cache-Control"] = "no-store", ["CDN-Cache-Control"] = "max-age=\"600\"" };
        var decision = StorageDecision.Evaluate(200, headers, RequestCredentials.None, false, CompiledRule.None, policy, 1000, 1000);
        Assert.False(decision.Store);
        Assert.Equal("no-store", decision.Detail);

        headers["CDN-Cache-Control"] = "max-age=600";
        decision = StorageDecision.Evaluate(200, headers, RequestCredentials.None, false, CompiledRule.None, policy, 1000, 1000);
        Assert.True(decision.Store);
        Assert.Equal(600_000, decision.LifetimeMs);
    }

    [Theory]
    [InlineData("bytes=2-4", 10, true, 2, 4, true)]
    [InlineData("bytes=2-", 10, true, 2, 9, true)]
    [InlineData("bytes=-3", 10, true, 7, 9, true)]
    [InlineData("bytes=-30", 10, true, 0, 9, true)]
    [InlineData("bytes=5-100", 10, true, 5, 9, true)]
    [InlineData("bytes=10-", 10, true, 0, -1, false)]
    [InlineData("bytes=-0", 10, true, 0, -1, false)]
    [InlineData("bytes=0-0", 0, true, 0, -1, false)]
    [InlineData("bytes=4-2", 10, false, 0, 0, false)]
    [InlineData("bytes=1-2,4-5", 10, false, 0, 0, false)]
    [InlineData("items=1-2", 10, false, 0, 0, false)]
    [InlineData("bytes=a-b", 10, false, 0, 0, false)]
    public void ByteRange_Parse(string value, long length, bool parsed, long first, long last, bool satisfiable)
    {
        Assert.Equal(parsed, ByteRange.TryParse(value, length, out var range));
        if (parsed)
        {
            Assert.Equal(new ByteRange(first, last, satisfiable), range);
        }
    }

    [Theory]
    [InlineData("GET", true)]
    [InlineData("HEAD", true)]
    [InlineData("OPTIONS", true)]
    [InlineData("TRACE", true)]
    [InlineData("PROPFIND", true)]
    [InlineData("POST", false)]
    [InlineData("PUT", false)]
    [InlineData("PATCH", false)]
    [InlineData("DELETE", false)]
    [InlineData("PURGE", false)]
    [InlineData("M-SEARCH", false)]
    [InlineData("BREW", false)]
    public void UnsafeMethods_EveryMethodNotKnownSafeInvalidates(string method, bool safe)
    {
        Assert.Equal(!safe, UnsafeMethodInvalidator.IsInvalidating(method));
    }

    [Theory]
    [InlineData("accept-language", "en-US,en;q=0.8", "en;q=0.80, EN-us")]
    [InlineData("accept-language", "de, fr;q=0.5, en;q=0.5", "de,en;q=0.5,fr;q=0.50")]
    [InlineData("accept-encoding", "gzip, br;q=1.0, zstd;q=0.9", "BR,GZIP , zstd;q=0.900")]
    public void VariantHash_EqualPreferences_ShareAVariant(string name, string one, string other)
    {
        Assert.Equal(CacheKey.VariantHash([name], new HeaderDictionary { [name] = one }), CacheKey.VariantHash([name], new HeaderDictionary { [name] = other }));
    }

    [Theory]
    [InlineData("accept-language", "en, de;q=0.5", "de, en;q=0.5")]
    [InlineData("accept-encoding", "gzip", "gzip;q=0")]
    public void VariantHash_DifferentPreferences_AreDifferentVariants(string name, string one, string other)
    {
        Assert.NotEqual(CacheKey.VariantHash([name], new HeaderDictionary { [name] = one }), CacheKey.VariantHash([name], new HeaderDictionary { [name] = other }));
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(CacheEntry.FlagNoCache, false)]
    [InlineData(CacheEntry.FlagMustRevalidate, false)]
    [InlineData(CacheEntry.FlagSharedMaxAge, false)]
    public void MayServeUnreachable_NotWhenADirectiveForbidsStale(int flags, bool expected)
    {
        Assert.Equal(expected, new CacheEntry { Kind = RecordKind.Response, VaryNames = [], Flags = flags }.MayServeUnreachable);
    }
}
