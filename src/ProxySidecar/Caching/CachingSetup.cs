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
        services.AddSingleton(sp =>
        {
            var cache = new CacheOptions();
            sp.GetRequiredService<IConfiguration>().GetSection(CacheOptions.Section).Bind(cache);
            return new MemoryCacheStore(cache.SizeLimitBytes, sp.GetRequiredService<TimeProvider>());
        });
        services.AddSingleton<IOutputCacheStore>(sp => sp.GetRequiredService<MemoryCacheStore>());
        services.AddSingleton<ICacheOccupancy>(sp => sp.GetRequiredService<MemoryCacheStore>());
        services.AddSingleton(sp => CaptureBudget.From(sp.GetRequiredService<IConfiguration>()));

        services.TryAddSingleton(sp => new CacheClock(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IValidateOptions<CacheOptions>, CacheOptionsValidator>();
        services.AddSingleton<CachePolicyProvider>();
        services.AddHostedService<CachePolicyStartup>();
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

/// <summary>Compiles the cache configuration before the listeners start, so a bad first load stops start-up with every bad key named.</summary>
internal sealed class CachePolicyStartup(IServiceProvider services) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<CachePolicyProvider>();
        _ = services.GetRequiredService<IOutputCacheStore>();
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
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
