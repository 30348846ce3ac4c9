using ProxySidecar.Admin;

namespace ProxySidecar.Hosting;

/// <summary>Not ready while starting, and from the moment shutdown starts (so endpoints drop the pod before it stops).</summary>
internal sealed class LifecycleReadiness(SidecarLifecycle lifecycle) : IReadinessCheck
{
    public string? NotReadyReason() => lifecycle.State switch
    {
        SidecarState.Draining => "draining: shutdown has started",
        SidecarState.Starting => "starting",
        _ => null,
    };
}

internal static class LifecycleStatus
{
    /// <summary>The "state" and "uptimeSeconds" of /status.</summary>
    public static void AddLifecycleStatus(this IServiceCollection services)
    {
        services.AddSingleton<IStatusContributor>(sp =>
        {
            var lifecycle = sp.GetRequiredService<SidecarLifecycle>();
            return new StatusValue("state", () => lifecycle.State.ToString().ToLowerInvariant());
        });
        services.AddSingleton<IStatusContributor>(sp =>
        {
            var lifecycle = sp.GetRequiredService<SidecarLifecycle>();
            return new StatusValue("uptimeSeconds", () => Math.Round(lifecycle.Uptime.TotalSeconds, 1));
        });
        services.AddSingleton<IReadinessCheck, LifecycleReadiness>();
    }
}
