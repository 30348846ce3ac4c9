using ProxySidecar.Caching;

namespace ProxySidecar.Tests.Caching;

public sealed class FreshnessTests
{
    private const long Now = 1_700_000_000_000;

    [Fact]
    public void ExplicitLifetime_SharedMaxAge_WinsOverMaxAgeAndExpires()
    {
        var cc = CacheControl.Parse("max-age=100, s-maxage=10");
        Assert.Equal(10_000, Freshness.ExplicitLifetime(cc, "Thu, 01 Jan 2099 00:00:00 GMT", Now, Now));
    }

    [Fact]
    public void ExplicitLifetime_MaxAge_WinsOverExpires()
    {
        var cc = CacheControl.Parse("max-age=100");
        Assert.Equal(100_000, Freshness.ExplicitLifetime(cc, "Thu, 01 Jan 2099 00:00:00 GMT", Now, Now));
    }

    [Fact]
    public void ExplicitLifetime_Expires_IsMeasuredFromDate()
    {
        var date = DateTimeOffset.FromUnixTimeMilliseconds(Now);
        var expires = date.AddSeconds(30).ToString("R");
        Assert.Equal(30_000, Freshness.ExplicitLifetime(default, expires, Now, Now + 5000));
    }

    [Fact]
    public void ExplicitLifetime_InvalidExpires_IsAlreadyExpired()
    {
        Assert.Equal(0, Freshness.ExplicitLifetime(default, "0", Now, Now));
    }

    [Fact]
    public void ExplicitLifetime_None_IsNull()
    {
        Assert.Null(Freshness.ExplicitLifetime(default, null, Now, Now));
    }

    [Fact]
    public void HeuristicLifetime_IsTenPercentOfTheAgeOfLastModified_Bounded()
    {
        Assert.Equal(3_600_000, Freshness.HeuristicLifetime(Now, Now, Now - 36_000_000, 0.1, long.MaxValue));
        Assert.Equal(60_000, Freshness.HeuristicLifetime(Now, Now, Now - 36_000_000, 0.1, 60_000));
        Assert.Equal(0, Freshness.HeuristicLifetime(Now, Now, Now + 1000, 0.1, 60_000));
    }

    [Fact]
    public void CorrectedInitialAge_TakesTheLargerOfApparentAgeAndAgePlusDelay()
    {
        // Date 10 s before the response arrived: apparent age 10 s.
        Assert.Equal(10_000, Freshness.CorrectedInitialAge(null, Now - 10_000, Now - 100, Now));

        // Age 50 plus a 2 s response delay beats the apparent age.
        Assert.Equal(52_000, Freshness.CorrectedInitialAge(50, Now, Now - 2000, Now));
    }

    [Fact]
    public void CorrectedInitialAge_DateInTheFuture_GivesNoNegativeAge()
    {
        Assert.Equal(0, Freshness.CorrectedInitialAge(null, Now + 60_000, Now, Now));
    }

    [Fact]
    public void CurrentAge_AddsResidentTime()
    {
        Assert.Equal(15_000, Freshness.CurrentAge(5000, Now, Now + 10_000));
        Assert.Equal(15, Freshness.AgeSeconds(15_999));
    }

    [Theory]
    [InlineData(200, true)]
    [InlineData(203, true)]
    [InlineData(204, true)]
    [InlineData(300, true)]
    [InlineData(301, true)]
    [InlineData(308, true)]
    [InlineData(404, true)]
    [InlineData(405, true)]
    [InlineData(410, true)]
    [InlineData(414, true)]
    [InlineData(501, true)]
    [InlineData(206, false)]
    [InlineData(302, false)]
    [InlineData(500, false)]
    [InlineData(503, false)]
    public void IsHeuristicallyCacheable_FollowsRfc9110(int status, bool expected)
    {
        Assert.Equal(expected, Freshness.IsHeuristicallyCacheable(status));
    }

    [Fact]
    public void ParseAge_ReadsSecondsAndRejectsGarbage()
    {
        Assert.Equal(42, Freshness.ParseAge("42"));
        Assert.Null(Freshness.ParseAge("x"));
        Assert.Null(Freshness.ParseAge(null));
    }
}
