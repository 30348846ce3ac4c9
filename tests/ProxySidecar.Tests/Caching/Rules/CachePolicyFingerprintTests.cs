using System.Reflection;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Tests.Caching.Rules;

/// <summary>
/// A reload that brings back the same settings keeps the same policy (a rejected change is announced again with the
/// last good values); so every setting a policy is compiled from must be in its fingerprint.
/// </summary>
public sealed class CachePolicyFingerprintTests
{
    // Read once at start by the store, not by the policy.
    private static readonly string[] RestartOnly = ["SizeLimitBytes", "HeapHeadroomBytes", "StoreTimeout", "PurgeMarkerCacheDuration"];

    public static TheoryData<string> OptionProperties() => [.. typeof(CacheOptions).GetProperties().Where(p => p.Name != "Rules" && !RestartOnly.Contains(p.Name)).Select(p => p.Name)];

    public static TheoryData<string> RuleProperties() => [.. typeof(CacheRuleOptions).GetProperties().Select(p => p.Name)];

    [Theory]
    [MemberData(nameof(OptionProperties))]
    public void Fingerprint_ChangesWithEverySetting(string property)
    {
        var options = new CacheOptions();
        var before = new CachePolicy(options).Fingerprint;
        Change(options, typeof(CacheOptions).GetProperty(property)!);
        Assert.NotEqual(before, new CachePolicy(options).Fingerprint);
    }

    [Theory]
    [MemberData(nameof(RuleProperties))]
    public void Fingerprint_ChangesWithEveryRuleSetting(string property)
    {
        var options = new CacheOptions();
        var rule = new CacheRuleOptions { Path = "/a/**" };
        options.Rules.Add(rule);
        var before = new CachePolicy(options).Fingerprint;
        Change(rule, typeof(CacheRuleOptions).GetProperty(property)!);
        Assert.NotEqual(before, new CachePolicy(options).Fingerprint);
    }

    [Fact]
    public void Fingerprint_SameSettings_Same()
    {
        Assert.Equal(new CachePolicy(new CacheOptions()).Fingerprint, new CachePolicy(new CacheOptions()).Fingerprint);
    }

    private static void Change(object target, PropertyInfo property)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var current = property.GetValue(target);
        if (property.PropertyType == typeof(IList<string>))
        {
            ((IList<string>)current!).Add("X-Changed");
            return;
        }

        object next = type == typeof(bool) ? !(bool)(current ?? false)
            : type == typeof(long) ? (long)current! + 1
            : type == typeof(TimeSpan) ? ((TimeSpan?)current ?? TimeSpan.Zero) + TimeSpan.FromSeconds(1)
            : type == typeof(string) ? (property.Name == "Path" ? "/changed/**" : (string?)current + "Changed")
            : throw new InvalidOperationException($"No change known for {property.Name} ({type})");
        property.SetValue(target, next);
    }
}
