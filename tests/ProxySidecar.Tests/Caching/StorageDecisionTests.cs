using Microsoft.AspNetCore.Http;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Tests.Caching;

public sealed class StorageDecisionTests
{
    private const long Now = 1_700_000_000_000;
    private static readonly CachePolicy Policy = new(new CacheOptions());

    private static StorageDecision Decide(int status, HeaderDictionary headers, bool authorization = false, CompiledRule? rule = null, CachePolicy? policy = null) =>
        Decide(status, headers, authorization ? RequestCredentials.Authorization : RequestCredentials.None, rule, policy);

    private static StorageDecision Decide(int status, HeaderDictionary headers, RequestCredentials credentials, CompiledRule? rule = null, CachePolicy? policy = null) =>
        StorageDecision.Evaluate(status, headers, credentials, requestNoStore: false, rule ?? CompiledRule.None, policy ?? Policy, Now, Now);

    [Fact]
    public void Evaluate_MaxAge_IsStoredWithThatLifetime()
    {
        var decision = Decide(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60" });
        Assert.True(decision.Store);
        Assert.Equal(60_000, decision.LifetimeMs);
    }

    [Theory]
    [InlineData("no-store", "no-store")]
    [InlineData("private, max-age=60", "private")]
    public void Evaluate_ForbiddenDirectives_AreNotStored(string cacheControl, string detail)
    {
        var decision = Decide(200, new HeaderDictionary { ["Cache-Control"] = cacheControl });
        Assert.False(decision.Store);
        Assert.Equal(detail, decision.Detail);
    }

    [Theory]
    [InlineData("max-age=60", false)]
    [InlineData("public, max-age=60", true)]
    [InlineData("s-maxage=60", true)]
    [InlineData("max-age=60, must-revalidate", true)]
    public void Evaluate_Authorization_NeedsPublicSMaxAgeOrMustRevalidate(string cacheControl, bool stored)
    {
        Assert.Equal(stored, Decide(200, new HeaderDictionary { ["Cache-Control"] = cacheControl }, authorization: true).Store);
    }

    [Theory]
    [InlineData(206)]
    [InlineData(304)]
    public void Evaluate_AnswerToTheRequestsOwnConditionsOrRange_IsNotStoredAndSaysNothingAboutTheResource(int status)
    {
        var decision = Decide(status, new HeaderDictionary { ["Cache-Control"] = "max-age=60" });

        Assert.False(decision.Store);
        Assert.False(decision.ResponseReason);
    }

    [Fact]
    public void Evaluate_ServerErrorWithoutFreshness_MarksTheResourceUncacheable()
    {
        var decision = Decide(500, new HeaderDictionary { ["Last-Modified"] = "Tue, 01 Jan 2030 00:00:00 GMT" });

        Assert.False(decision.Store);
        Assert.True(decision.ResponseReason);
    }

    [Fact]
    public void Evaluate_NoFreshnessNoValidators_IsNotStored()
    {
        Assert.Equal("no-freshness", Decide(200, []).Detail);
    }

    [Fact]
    public void Evaluate_OnlyAnETag_IsStoredForRevalidation()
    {
        var decision = Decide(200, new HeaderDictionary { ["ETag"] = "\"a\"" });
        Assert.True(decision.Store);
        Assert.Equal(0, decision.LifetimeMs);
    }

    [Fact]
    public void Evaluate_HeuristicSwitchedOff_GivesNoHeuristicLifetime()
    {
        var headers = new HeaderDictionary { ["Last-Modified"] = DateTimeOffset.FromUnixTimeMilliseconds(Now).AddDays(-1).ToString("R") };
        var on = Decide(200, headers);
        var off = Decide(200, headers, policy: new CachePolicy(new CacheOptions { HeuristicFreshness = false }));
        Assert.True(on.LifetimeMs > 0);
        Assert.Equal(0, off.LifetimeMs);
    }

    [Fact]
    public void Evaluate_TooLargeContentLength_IsNotStored()
    {
        var headers = new HeaderDictionary { ["Cache-Control"] = "max-age=60", ["Content-Length"] = (Policy.MaxEntryBytes + 1).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        Assert.Equal("too-large", Decide(200, headers).Detail);
    }

    [Fact]
    public void Evaluate_PartialContentAndNotModified_AreNeverStored()
    {
        Assert.False(Decide(206, new HeaderDictionary { ["Cache-Control"] = "max-age=60" }).Store);
        Assert.False(Decide(304, new HeaderDictionary { ["Cache-Control"] = "max-age=60" }).Store);
    }

    [Fact]
    public void ValidFor_CoversFreshnessPlusTheLongestStaleWindow_Bounded()
    {
        var decision = Decide(200, new HeaderDictionary { ["Cache-Control"] = "max-age=60, stale-if-error=600" });
        Assert.Equal(TimeSpan.FromSeconds(660), decision.ValidFor(Policy, hasValidators: false));
        var huge = Decide(200, new HeaderDictionary { ["Cache-Control"] = "max-age=999999999" });
        Assert.Equal(TimeSpan.FromDays(1), huge.ValidFor(Policy, hasValidators: false));
    }
}
