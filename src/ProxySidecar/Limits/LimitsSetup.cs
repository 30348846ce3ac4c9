using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using ProxySidecar.Admin;

namespace ProxySidecar.Limits;

/// <summary>Registration of the limits. Their places in the pipeline are in <see cref="SidecarApplication.UseProxySidecar"/>.</summary>
internal static class LimitsSetup
{
    public static void AddSidecarLimits(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LimitsOptions>, LimitsOptionsValidator>();
        services.AddSingleton<LimitsMetrics>();
        services.AddSingleton<LimitsPolicyProvider>();
        services.AddSingleton<SidecarRateLimiter>();
        services.AddSingleton<ClientConnectionLimiter>();
        services.AddSingleton<IStatusContributor, LimitsStatus>();

        // ASP.NET's rate-limiting middleware with one global limiter that follows the live policy; it is in the
        // pipeline only while there are rules (see UseProxySidecar).
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<SidecarRateLimiter>((options, limiter) =>
        {
            options.GlobalLimiter = limiter;
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = limiter.OnRejectedAsync;
        });
    }

    /// <summary>Per-client rate limits apply while the live policy has rules (one volatile read per request otherwise).</summary>
    public static Func<HttpContext, bool> HasRateLimitRules(IServiceProvider services)
    {
        var limits = services.GetRequiredService<LimitsPolicyProvider>();
        return _ => limits.Current.HasRules;
    }
}
