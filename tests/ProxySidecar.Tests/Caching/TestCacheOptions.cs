using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Configuration;
using ProxySidecar.Tests.Telemetry;

namespace ProxySidecar.Tests.Caching;

/// <summary><c>Sidecar:Cache</c> from a configuration, and the policy provider over it, for tests that build the cache's parts by hand.</summary>
internal static class TestCacheOptions
{
    public static CacheOptions From(IConfiguration configuration)
    {
        var options = new CacheOptions();
        configuration.GetSection(CacheOptions.Section).Bind(options);
        return options;
    }

    public static Microsoft.Extensions.Options.IOptions<CacheOptions> Of(IConfiguration configuration) =>
        Microsoft.Extensions.Options.Options.Create(From(configuration));

    public static CachePolicyProvider Policy(IConfiguration configuration) =>
        new(new LastGoodOptions<CacheOptions>(new StaticOptionsMonitor<CacheOptions>(From(configuration))), NullLogger<CachePolicyProvider>.Instance);
}
