using ProxySidecar.Limits;
using static ProxySidecar.Tests.Limits.LimitsTestSupport;

namespace ProxySidecar.Tests.Limits;

public sealed class LimitsPolicyTests
{
    [Theory]
    [InlineData("GET", "/login", "login")]
    [InlineData("GET", "/LOGIN", "login")]
    [InlineData("GET", "//login", "login")]
    [InlineData("GET", "/login;jsessionid=1", "login")]
    [InlineData("GET", "/api/items", "api")]
    [InlineData("DELETE", "/api/items", "all")]
    [InlineData("GET", "/other", "all")]
    public void Match_FirstRuleOfTheRoutedOrTheNormalisedPath(string method, string path, string expected)
    {
        var api = new RateLimitRuleOptions { Name = "api", Path = "/api/**" };
        api.Methods.Add("get");
        var policy = LimitsPolicy.Compile(
            WithRules(new RateLimitRuleOptions { Name = "login", Path = "/login" }, api, new RateLimitRuleOptions { Name = "all" }),
            previous: null);

        Assert.Equal(expected, policy.Match(method, path)?.Name);
    }

    [Fact]
    public void Match_CaseSensitiveRule_LeavesOtherCasesAlone()
    {
        var policy = LimitsPolicy.Compile(WithRules(new RateLimitRuleOptions { Name = "exact", Path = "/Report", IgnoreCase = false }), previous: null);

        Assert.Equal("exact", policy.Match("GET", "/Report")?.Name);
        Assert.Null(policy.Match("GET", "/report"));
    }

    [Fact]
    public void Compile_UnchangedRule_KeepsItsTable_AChangedOneGetsANewTable()
    {
        var first = LimitsPolicy.Compile(
            WithRules(new RateLimitRuleOptions { Name = "a", PermitLimit = 5 }, new RateLimitRuleOptions { Name = "b", Path = "/b", PermitLimit = 5 }),
            previous: null);

        var second = LimitsPolicy.Compile(
            WithRules(new RateLimitRuleOptions { Name = "a", PermitLimit = 5 }, new RateLimitRuleOptions { Name = "b", Path = "/b", PermitLimit = 6 }),
            first);

        Assert.Same(first.Rules[0].Table, second.Rules[0].Table);
        Assert.NotSame(first.Rules[1].Table, second.Rules[1].Table);
        Assert.False(second.SameSettingsAs(first));
    }

    [Fact]
    public void Compile_NewMaxPartitions_GivesNewTables()
    {
        var first = LimitsPolicy.Compile(WithRules(new RateLimitRuleOptions { Name = "a" }), previous: null);
        var options = WithRules(new RateLimitRuleOptions { Name = "a" });
        options.MaxPartitions = 5;

        var second = LimitsPolicy.Compile(options, first);

        Assert.NotSame(first.Rules[0].Table, second.Rules[0].Table);
        Assert.Equal(5, second.Rules[0].Table.MaxPartitions);
    }

    [Fact]
    public void Compile_AppCap_KeepsItsSlotsWhenOnlyTheTimeoutChanges()
    {
        var options = new LimitsOptions { App = new AppLimitOptions { MaxConcurrentRequests = 4, QueueLimit = 2 } };
        var first = LimitsPolicy.Compile(options, previous: null);
        options.App.QueueTimeout = TimeSpan.FromSeconds(9);
        var second = LimitsPolicy.Compile(options, first);
        options.App.MaxConcurrentRequests = 8;
        var third = LimitsPolicy.Compile(options, second);

        Assert.Same(first.App!.Gate, second.App!.Gate);
        Assert.Equal(TimeSpan.FromSeconds(9), second.App.QueueTimeout);
        Assert.NotSame(second.App.Gate, third.App!.Gate);
        Assert.Null(LimitsPolicy.Compile(new LimitsOptions(), third).App);
    }

    [Fact]
    public void Provider_Reload_PublishesTheNewPolicy_AndAnIdenticalOneChangesNothing()
    {
        var monitor = new ChangingOptionsMonitor<LimitsOptions>(WithRules(new RateLimitRuleOptions { Name = "a" }));
        using var provider = Provider(monitor);
        var before = provider.Current;

        monitor.Set(WithRules(new RateLimitRuleOptions { Name = "a" }));
        var same = provider.Current;
        var reloadedAfterSame = provider.LastReload;
        monitor.Set(WithRules(new RateLimitRuleOptions { Name = "a" }, new RateLimitRuleOptions { Name = "b" }));

        Assert.Same(before, same);
        Assert.Null(reloadedAfterSame);
        Assert.Equal(["a", "b"], provider.Current.Rules.Select(r => r.Name));
        Assert.Same(before.Rules[0].Table, provider.Current.Rules[0].Table);
        Assert.NotNull(provider.LastReload);
    }

    [Theory]
    [InlineData("TokenBucket", "00:00:01", null, 1000)]
    [InlineData("SlidingWindow", "00:00:10", 10, 100)]
    [InlineData("SlidingWindow", "00:00:20", 4, 500)]
    [InlineData("SlidingWindow", "00:01:00", 6, 1000)]
    [InlineData("SlidingWindow", "01:00:00", null, 1000)]
    public void BeatFor_ATenthOfASlidingWindowsSegment_BetweenATenthOfASecondAndOne(string algorithm, string window, int? segments, int expectedMs)
    {
        var definition = RateLimitDefinition.From(
            new RateLimitRuleOptions { Algorithm = Enum.Parse<RateLimitAlgorithm>(algorithm), Window = TimeSpan.Parse(window, System.Globalization.CultureInfo.InvariantCulture), SegmentsPerWindow = segments },
            0);

        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), LimitsPolicyProvider.BeatFor(definition));
    }

    [Fact]
    public void Heartbeat_OnTheProvidersTimer_DropsIdlePartitions()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        using var provider = Provider(new ChangingOptionsMonitor<LimitsOptions>(WithRules(new RateLimitRuleOptions { Name = "a" })), time);
        var table = provider.Current.Rules[0].Table;
        table.Acquire(new PartitionKey(UInt128.One, null), 0, out _);

        time.Advance(TimeSpan.FromMilliseconds(999));
        var before = table.Count;
        time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Equal(1, before);
        Assert.Equal(0, table.Count);
    }
}
