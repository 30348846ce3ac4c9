namespace ProxySidecar.Caching;

/// <summary>Registration and pipeline position of the HTTP cache.</summary>
internal static class CachingSetup
{
    public static void AddSidecarCache(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
    }

    /// <summary>Placed by <see cref="SidecarApplication"/> right before routing to the forwarder.</summary>
    public static void UseSidecarCache(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
    }
}
