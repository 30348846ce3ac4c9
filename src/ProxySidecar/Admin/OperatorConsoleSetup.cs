using Microsoft.Extensions.Options;
using ProxySidecar.Caching;
using ProxySidecar.WarmUp;

namespace ProxySidecar.Admin;

/// <summary>
/// The operator's console on the admin listener: the status page (<c>GET /</c>), per-rule cache figures (/status,
/// metrics), <c>/cache/explain</c>, and cache warm-up (<c>POST /cache/warm</c> and the start-up warm list).
/// </summary>
internal static class OperatorConsoleSetup
{
    /// <summary>Called by <see cref="SidecarApplication"/> after the cache and the purge endpoint registered themselves.</summary>
    public static IServiceCollection AddOperatorConsole(this IServiceCollection services)
    {
        services.AddSingleton<CacheRuleStatus>();
        services.AddSingleton<IStatusContributor>(sp => sp.GetRequiredService<CacheRuleStatus>());

        services.AddSingleton<CacheExplainer>();
        services.AddSingleton<IAdminEndpoint>(sp => Explain(sp, HttpMethods.Get));
        services.AddSingleton<IAdminEndpoint>(sp => Explain(sp, HttpMethods.Post));

        services.AddOptions<WarmUpOptions>().BindConfiguration(WarmUpOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WarmUpOptions>, WarmUpOptionsValidator>();
        services.AddSingleton<CacheWarmer>();
        services.AddSingleton<StartupWarmUp>();
        services.AddHostedService(sp => sp.GetRequiredService<StartupWarmUp>());
        services.AddSingleton<IReadinessCheck>(sp => sp.GetRequiredService<StartupWarmUp>());
        services.AddSingleton<IStatusContributor, WarmUpStatus>();
        services.AddSingleton<IAdminEndpoint, WarmUpEndpoint>();

        services.AddSingleton<IAdminEndpoint, StatusPage>();
        return services;
    }

    private static ExplainEndpoint Explain(IServiceProvider services, string method) => new(
        method,
        services.GetRequiredService<CacheExplainer>(),
        services.GetRequiredService<PurgeTokenSource>(),
        services.GetRequiredService<ILogger<ExplainEndpoint>>());
}
