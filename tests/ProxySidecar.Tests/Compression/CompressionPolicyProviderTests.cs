using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Compression;
using ProxySidecar.Tests.Telemetry;

namespace ProxySidecar.Tests.Compression;

public sealed class CompressionPolicyProviderTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void Reload_ChangedSettings_PublishesANewPolicy()
    {
        using var provider = new CompressionPolicyProvider(new StaticOptionsMonitor<CompressionOptions>(new CompressionOptions()), _time, NullLogger<CompressionPolicyProvider>.Instance);
        var before = provider.Current;
        var changed = new CompressionOptions();
        changed.Rules.Add(new CompressionRuleOptions { Name = "off", Path = "/raw/**", Enabled = false });

        provider.Reload(changed);

        Assert.NotSame(before, provider.Current);
        Assert.False(provider.Current.Match("/raw/x").Enabled);
        Assert.Equal(_time.GetUtcNow(), provider.LastReload);
    }

    [Fact]
    public void Reload_SameSettings_KeepsThePolicy()
    {
        // A rejected change of the mounted file announces the last good values again.
        using var provider = new CompressionPolicyProvider(new StaticOptionsMonitor<CompressionOptions>(new CompressionOptions()), _time, NullLogger<CompressionPolicyProvider>.Instance);
        var before = provider.Current;

        provider.Reload(new CompressionOptions());

        Assert.Same(before, provider.Current);
        Assert.Null(provider.LastReload);
    }
}
