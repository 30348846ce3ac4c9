namespace ProxySidecar.Admin;

/// <summary>
/// Registration of the admin listener's endpoints: probes and /status (built from what each feature registers as
/// <see cref="IReadinessCheck"/> and <see cref="IStatusContributor"/>), purge and the operator's console.
/// </summary>
internal static class AdminSetup
{
    public static void AddSidecarAdmin(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddSingleton<IAdminEndpoint, LivenessEndpoint>();
        services.AddSingleton<ReadinessEndpoint>();
        services.AddSingleton<IAdminEndpoint>(sp => sp.GetRequiredService<ReadinessEndpoint>());
        services.AddSingleton<IAdminEndpoint, StatusEndpoint>();
        services.AddPurgeEndpoint();
        services.AddOperatorConsole();
    }

    /// <summary>The admin listener is answered here and never reaches the app.</summary>
    public static void UseSidecarAdmin(this WebApplication app) => app.UseMiddleware<AdminMiddleware>();
}
