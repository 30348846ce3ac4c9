using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Tests.Caching.Rules;

public sealed class RuleCompilerTests
{
    [Fact]
    public void Compile_CopiesEveryAction()
    {
        var options = new CacheRuleOptions { Name = "static", Path = "/static/**", Bypass = false, ForcedTtl = TimeSpan.FromMinutes(5), StaleIfError = TimeSpan.FromSeconds(30), AllowSetCookie = true, IgnoreClientCacheControl = true };
        options.IgnoreQueryParameters.Add("utm_*");
        options.VaryHeaders.Add("Accept-Language");
        options.Tags.Add("assets");
        options.Methods.Add("get");

        var rule = RuleCompiler.Compile(options, 0);

        Assert.Equal("static", rule.Name);
        Assert.Equal(300_000, rule.ForcedTtlMs);
        Assert.Equal(30_000, rule.StaleIfErrorMs);
        Assert.Equal(["utm_*"], rule.IgnoreQueryParameters);
        Assert.Equal(["accept-language"], rule.VaryHeaders);
        Assert.Equal(["assets"], rule.Tags);
        Assert.True(rule.AllowSetCookie && rule.IgnoreClientCacheControl);
        Assert.True(rule.Matches("GET", "/static/a.css"));
        Assert.False(rule.Matches("HEAD", "/static/a.css"));
    }

    [Fact]
    public void Match_FirstMatchingRuleWins()
    {
        var options = new CacheOptions();
        options.Rules.Add(new CacheRuleOptions { Name = "one", Path = "/a/**", Bypass = true });
        options.Rules.Add(new CacheRuleOptions { Name = "two", Path = "/a/b" });
        var policy = new CachePolicy(options);
        Assert.Equal("one", policy.Match("GET", "/a/b").Name);
        Assert.Same(CompiledRule.None, policy.Match("GET", "/z"));
        Assert.Same(CompiledRule.None, policy.Match("POST", "/a/b"));
    }

    [Fact]
    public void Validate_CollectsEveryErrorWithItsKey()
    {
        var options = new CacheOptions { MaxEntryBytes = 0, SizeLimitBytes = 10, CoalescingTimeout = TimeSpan.Zero };
        var bad = new CacheRuleOptions { Path = "no-slash", DefaultTtl = TimeSpan.FromMinutes(1), ForcedTtl = TimeSpan.FromMinutes(2), StaleIfError = TimeSpan.FromSeconds(-1) };
        bad.VaryHeaders.Add("has space");
        bad.Tags.Add("two words");
        options.Rules.Add(bad);

        var result = new CacheOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = string.Join("\n", result.Failures!);
        foreach (var key in new[] { "Sidecar:Cache:SizeLimitBytes", "Sidecar:Cache:MaxEntryBytes", "Sidecar:Cache:CoalescingTimeout", "Sidecar:Cache:Rules:0:Path", "Sidecar:Cache:Rules:0:StaleIfError", "Sidecar:Cache:Rules:0:VaryHeaders:0", "Sidecar:Cache:Rules:0:Tags:0", "DefaultTtl and ForcedTtl" })
        {
            Assert.Contains(key, failures, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validate_Defaults_AreValid()
    {
        Assert.True(new CacheOptionsValidator().Validate(null, new CacheOptions()).Succeeded);
    }
}
