using ProxySidecar.Limits;

namespace ProxySidecar.Tests.Limits;

public sealed class LimitsOptionsValidatorTests
{
    private static readonly LimitsOptionsValidator Validator = new();

    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        Assert.True(Validator.Validate(null, new LimitsOptions()).Succeeded);
    }

    [Fact]
    public void Validate_AFullConfiguration_Succeeds()
    {
        var options = new LimitsOptions { MaxConnectionsPerClient = 20, App = new AppLimitOptions { MaxConcurrentRequests = 64, QueueLimit = 0 } };
        options.TrustedProxies.Add("10.0.0.0/8");
        options.TrustedProxies.Add("192.168.1.10");
        options.TrustedProxies.Add("fd00::/8");
        options.Rules.Add(new RateLimitRuleOptions { Name = "login", Path = "/login", PermitLimit = 5, Window = TimeSpan.FromMinutes(1), TokensPerWindow = 1 });
        var api = new RateLimitRuleOptions { Name = "api", Path = "/api/**", PartitionBy = PartitionKind.Header, Header = "X-Api-Key", Algorithm = RateLimitAlgorithm.SlidingWindow, Window = TimeSpan.FromMinutes(1), SegmentsPerWindow = 6 };
        api.Methods.Add("POST");
        options.Rules.Add(api);
        options.Rules.Add(new RateLimitRuleOptions { PartitionBy = PartitionKind.ClientCertificate });

        var result = Validator.Validate(null, options);

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("TrustedProxies:0", "not-an-address")]
    [InlineData("TrustedProxies:0", "10.0.0.0/33")]
    [InlineData("Ipv6PrefixLength", "16")]
    [InlineData("MaxPartitions", "0")]
    [InlineData("MaxConnectionsPerClient", "0")]
    [InlineData("App:MaxConcurrentRequests", "0")]
    [InlineData("App:QueueLimit", "-1")]
    [InlineData("App:QueueTimeout", "0")]
    [InlineData("App:RetryAfter", "0")]
    public void Validate_OneBadValue_NamesItsKeyWithAFix(string key, string value)
    {
        var options = new LimitsOptions();
        switch (key)
        {
            case "TrustedProxies:0": options.TrustedProxies.Add(value); break;
            case "Ipv6PrefixLength": options.Ipv6PrefixLength = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture); break;
            case "MaxPartitions": options.MaxPartitions = 0; break;
            case "MaxConnectionsPerClient": options.MaxConnectionsPerClient = 0; break;
            case "App:MaxConcurrentRequests": options.App.MaxConcurrentRequests = 0; break;
            case "App:QueueLimit": options.App.QueueLimit = -1; break;
            case "App:QueueTimeout": options.App.QueueTimeout = TimeSpan.Zero; break;
            case "App:RetryAfter": options.App.RetryAfter = TimeSpan.Zero; break;
        }

        var failure = Assert.Single(Validator.Validate(null, options).Failures!);

        Assert.StartsWith("Sidecar:Limits:" + key + ": ", failure, StringComparison.Ordinal);
        Assert.Matches("Use |removed for no", failure);
    }

    [Theory]
    [InlineData("Path", "login")]
    [InlineData("Methods:0", "GE T")]
    [InlineData("Header", "missing")]
    [InlineData("Header", "X Api Key")]
    [InlineData("Header", "without-partition")]
    [InlineData("PermitLimit", "0")]
    [InlineData("Window", "0")]
    [InlineData("Window", "2.00:00:00")]
    [InlineData("Window", "sliding-under-a-second")]
    [InlineData("TokensPerWindow", "too-many")]
    [InlineData("TokensPerWindow", "with-window")]
    [InlineData("SegmentsPerWindow", "with-bucket")]
    [InlineData("SegmentsPerWindow", "too-short")]
    public void Validate_OneBadRule_NamesTheRulesKey(string key, string what)
    {
        var rule = new RateLimitRuleOptions { Name = "r" };
        switch (key, what)
        {
            case ("Path", _): rule.Path = what; break;
            case ("Methods:0", _): rule.Methods.Add(what); break;
            case ("Header", "missing"): rule.PartitionBy = PartitionKind.Header; break;
            case ("Header", "without-partition"): rule.Header = "X-Api-Key"; break;
            case ("Header", _): rule.PartitionBy = PartitionKind.Header; rule.Header = what; break;
            case ("PermitLimit", _): rule.PermitLimit = 0; break;
            case ("Window", "0"): rule.Window = TimeSpan.Zero; break;
            case ("Window", "sliding-under-a-second"): rule.Algorithm = RateLimitAlgorithm.SlidingWindow; rule.Window = TimeSpan.FromMilliseconds(500); break;
            case ("Window", _): rule.Window = TimeSpan.FromDays(2); break;
            case ("TokensPerWindow", "too-many"): rule.PermitLimit = 5; rule.TokensPerWindow = 6; break;
            case ("TokensPerWindow", _): rule.Algorithm = RateLimitAlgorithm.SlidingWindow; rule.TokensPerWindow = 1; break;
            case ("SegmentsPerWindow", "with-bucket"): rule.SegmentsPerWindow = 4; break;
            case ("SegmentsPerWindow", _): rule.Algorithm = RateLimitAlgorithm.SlidingWindow; rule.Window = TimeSpan.FromSeconds(10); rule.SegmentsPerWindow = 20; break;
        }

        var options = new LimitsOptions();
        options.Rules.Add(new RateLimitRuleOptions());
        options.Rules.Add(rule);

        var failure = Assert.Single(Validator.Validate(null, options).Failures!);

        Assert.StartsWith("Sidecar:Limits:Rules:1:" + key + ": ", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_TwoRulesWithOneName_NamesTheSecond()
    {
        var options = new LimitsOptions();
        options.Rules.Add(new RateLimitRuleOptions { Name = "api" });
        options.Rules.Add(new RateLimitRuleOptions { Name = "api", Path = "/api/**" });

        var failure = Assert.Single(Validator.Validate(null, options).Failures!);

        Assert.StartsWith("Sidecar:Limits:Rules:1:Name: \"api\" is also the name of rule 0.", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ManyProblems_NamesThemAll()
    {
        var options = new LimitsOptions { MaxPartitions = 0, MaxConnectionsPerClient = -1 };
        options.Rules.Add(new RateLimitRuleOptions { PermitLimit = 0, Window = TimeSpan.Zero });

        Assert.Equal(4, Validator.Validate(null, options).Failures!.Count());
    }

    [Fact]
    public void DefaultSegments_TenOrFewerSoThatEachIsAtLeastASecond()
    {
        Assert.Equal(10, RateLimitDefinition.DefaultSegments(TimeSpan.FromMinutes(1)));
        Assert.Equal(10, RateLimitDefinition.DefaultSegments(TimeSpan.FromSeconds(10)));
        Assert.Equal(5, RateLimitDefinition.DefaultSegments(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, RateLimitDefinition.DefaultSegments(TimeSpan.FromSeconds(1)));
    }
}
