using System.Net;
using System.Text.Json.Nodes;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using ProxySidecar.Limits;
using static ProxySidecar.Tests.Limits.LimitsTestSupport;

namespace ProxySidecar.Tests.Limits;

public sealed class SidecarRateLimiterTests
{
    [Theory]
    [InlineData(0, "1")]
    [InlineData(200, "1")]
    [InlineData(1000, "1")]
    [InlineData(1200, "2")]
    [InlineData(3_600_000, "3600")]
    public void RetryAfterSeconds_WholeSecondsRoundedUp_AtLeastOne(int milliseconds, string expected)
    {
        Assert.Equal(expected, LimitResponses.RetryAfterSeconds(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Fact]
    public async Task RefusedThenAskedAgain_TheSameRefusal_CountedOnce()
    {
        var options = WithRules(new RateLimitRuleOptions { Name = "r", PermitLimit = 1, Window = TimeSpan.FromHours(1) });
        options.MaxPartitions = 1;
        using var limits = Provider(new ChangingOptionsMonitor<LimitsOptions>(options));
        using var limiter = new SidecarRateLimiter(limits, Metrics());
        limiter.AttemptAcquire(From("192.0.2.1")).Dispose();
        limiter.AttemptAcquire(From("192.0.2.2")).Dispose();
        var third = From("192.0.2.3");

        using var refused = limiter.AttemptAcquire(third);
        using var again = await limiter.AcquireAsync(third);

        Assert.False(refused.IsAcquired);
        Assert.Same(refused, again);
        Assert.Equal(2, limits.Current.Rules[0].Table.Overflowed);
    }

    [Fact]
    public void NoMatchingRule_IsAllowed()
    {
        using var limits = Provider(new ChangingOptionsMonitor<LimitsOptions>(WithRules(new RateLimitRuleOptions { Path = "/login", PermitLimit = 1 })));
        using var limiter = new SidecarRateLimiter(limits, Metrics());

        for (var i = 0; i < 10; i++)
        {
            Assert.True(limiter.AttemptAcquire(From("192.0.2.1", "/elsewhere")).IsAcquired);
        }
    }

    [Fact]
    public async Task OnRejected_Answers429WithRetryAfterAndProblemJson_AndCountsTheRule()
    {
        using var limits = Provider(new ChangingOptionsMonitor<LimitsOptions>(WithRules(new RateLimitRuleOptions { Name = "login", PermitLimit = 1, Window = TimeSpan.FromMinutes(1) })));
        using var limiter = new SidecarRateLimiter(limits, Metrics());
        limiter.AttemptAcquire(From("192.0.2.1")).Dispose();
        var context = From("192.0.2.1");
        context.Response.Body = new MemoryStream();
        using var refused = limiter.AttemptAcquire(context);

        await limiter.OnRejectedAsync(new OnRejectedContext { HttpContext = context, Lease = refused }, CancellationToken.None);

        Assert.Equal(StatusCodes.Status429TooManyRequests, context.Response.StatusCode);
        Assert.Equal("60", context.Response.Headers.RetryAfter.ToString());
        Assert.Equal("no-store", context.Response.Headers.CacheControl.ToString());
        Assert.Equal("application/problem+json", context.Response.ContentType);
        var body = JsonNode.Parse(((MemoryStream)context.Response.Body).ToArray())!;
        Assert.Equal(429, (int)body["status"]!);
        Assert.Contains("\"login\"", (string?)body["detail"], StringComparison.Ordinal);
        Assert.Equal(1, limits.Current.Rules[0].Table.Rejected);
    }

    [Fact]
    public void RetryAfter_SlidingWindowSaysNothing_TheSegmentIsUsed()
    {
        var rule = LimitsPolicy.Compile(
            WithRules(new RateLimitRuleOptions { Algorithm = RateLimitAlgorithm.SlidingWindow, Window = TimeSpan.FromSeconds(30), SegmentsPerWindow = 3 }),
            previous: null).Rules[0];
        var key = new PartitionKey(UInt128.One, null);
        rule.Table.Acquire(key, 100, out _).Dispose();
        using var refused = rule.Table.Acquire(key, 1, out _);

        Assert.False(refused.IsAcquired);
        Assert.Equal(TimeSpan.FromSeconds(10), SidecarRateLimiter.RetryAfter(refused, rule));
    }

    private static DefaultHttpContext From(string address, string path = "/")
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(address);
        context.Request.Method = "GET";
        context.Request.Path = path;
        return context;
    }
}
