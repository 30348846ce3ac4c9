using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Configuration;

/// <summary>
/// One bad key in every Sidecar:* section: the real binary names every one of them in a single start (exit 2),
/// not one section per start.
/// </summary>
[Trait("Category", SidecarProcess.Category)]
public sealed class EverySectionValidatedTests
{
    /// <summary>Per section, an environment variable with a bad value and the key the report must name.</summary>
    public static readonly (string Variable, string Value, string Key)[] BadKeys =
    [
        ("Sidecar__Hosting__DrainTimeout", "-00:00:01", "Sidecar:Hosting:DrainTimeout"),
        ("Sidecar__Tls__ReloadInterval", "00:00:00", "Sidecar:Tls:ReloadInterval"),
        ("Sidecar__Upstream__ConnectTimeout", "00:00:00", "Sidecar:Upstream:ConnectTimeout"),
        ("Sidecar__Admin__PurgeToken", "short", "Sidecar:Admin:PurgeToken"),
        ("Sidecar__Cache__MaxEntryBytes", "0", "Sidecar:Cache:MaxEntryBytes"),
        ("Sidecar__Cache__Store", "Redis", "Sidecar:Cache:Redis:Configuration"),
        ("Sidecar__Cache__Redis__Breaker__MinimumThroughput", "1", "Sidecar:Cache:Redis:Breaker:MinimumThroughput"),
        ("Sidecar__Limits__MaxPartitions", "0", "Sidecar:Limits:MaxPartitions"),
        ("Sidecar__Compression__MinimumBytes", "-1", "Sidecar:Compression:MinimumBytes"),
        ("Sidecar__WarmUp__Concurrency", "0", "Sidecar:WarmUp:Concurrency"),
        ("Sidecar__AccessLog__Enabled", "maybe", "Sidecar:AccessLog:Enabled"),
    ];

    [Fact]
    public void Binary_OneBadKeyInEverySection_EveryOneNamedInOneStart()
    {
        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), BadKeys.ToDictionary(b => b.Variable, b => (string?)b.Value));

        Assert.True(setup.Process.WaitForExit(TimeSpan.FromSeconds(30)), "The process kept running.");
        Assert.True(setup.Process.ExitCode == 2, $"exit code {setup.Process.ExitCode}; stderr:\n{setup.Process.Stderr}");
        var missing = BadKeys.Where(b => !setup.Process.Stderr.Contains(b.Key, StringComparison.Ordinal)).Select(b => b.Key).ToList();
        Assert.True(missing.Count == 0, $"not named: {string.Join(", ", missing)}; stderr:\n{setup.Process.Stderr}");
        Assert.DoesNotContain("   at ", setup.Process.Stderr, StringComparison.Ordinal);
    }
}
