using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxySidecar.Admin;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>Registration and pipeline position of the HTTP cache.</summary>
internal static class CachingSetup
{
    public static void AddSidecarCache(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;

        // Storage is an IOutputCacheStore: the bounded memory store unless the Redis store replaces it.
        services.AddOptions<CacheOptions>().BindConfiguration(CacheOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CacheOptions>, CacheOptionsValidator>();
        services.AddSingleton(sp => new MemoryCacheStore(sp.GetRequiredService<IOptions<CacheOptions>>().Value.SizeLimitBytes, sp.GetRequiredService<TimeProvider>()));
        // TryAdd: the Redis store (Sidecar:Cache:Store=Redis) replaces both, whichever registers first.
        services.TryAddSingleton<IOutputCacheStore>(sp => sp.GetRequiredService<MemoryCacheStore>());
        services.TryAddSingleton<ICacheOccupancy>(sp => sp.GetRequiredService<MemoryCacheStore>());
        services.AddSingleton(sp => CaptureBudget.From(sp.GetRequiredService<IOptions<CacheOptions>>().Value));

        services.TryAddSingleton(sp => new CacheClock(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<CachePolicyProvider>();
        services.AddSingleton<CacheMetrics>();
        services.AddSingleton<HttpCacheStore>();
        services.AddSingleton<RequestCoalescer>();
        services.AddSingleton<BackgroundRefresher>();
        services.AddSingleton<HttpCachePurger>();
        services.AddSingleton<IHttpCachePurger>(sp => sp.GetRequiredService<HttpCachePurger>());
        services.AddSingleton<IStatusContributor, CacheStatusContributor>();
    }

    /// <summary>Placed by <see cref="SidecarApplication"/> right before routing to the forwarder.</summary>
    public static void UseSidecarCache(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<HttpCacheMiddleware>();
    }
}

/// <summary>The "cache" section of /status.</summary>
internal sealed class CacheStatusContributor(CachePolicyProvider policies, ICacheOccupancy occupancy, RequestCoalescer coalescer, BackgroundRefresher refresher) : IStatusContributor
{
    public string Name => "cache";

    public object GetStatus()
    {
        var policy = policies.Current;
        return new Dictionary<string, object?>
        {
            ["enabled"] = policy.Enabled,
            ["rules"] = policy.Rules.Select(r => r.Name).ToArray(),
            ["entries"] = occupancy.Entries,
            ["bytes"] = occupancy.Bytes,
            ["coalescing"] = coalescer.InFlight,
            ["refreshing"] = refresher.Running,
            ["refreshes_started"] = refresher.Started,
        };
    }
}
