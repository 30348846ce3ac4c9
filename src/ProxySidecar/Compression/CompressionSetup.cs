using Microsoft.Extensions.Options;
using ProxySidecar.Admin;

namespace ProxySidecar.Compression;

/// <summary>Registration and pipeline position of compression.</summary>
internal static class CompressionSetup
{
    public static void AddSidecarCompression(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<CompressionOptions>().BindConfiguration(CompressionOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CompressionOptions>, CompressionOptionsValidator>();
        services.AddSingleton<CompressionPolicyProvider>();
        services.AddSingleton<CompressionMetrics>();
        services.AddSingleton<Caching.EncodedRepresentations>();
        services.AddSingleton<IStatusContributor, CompressionStatus>();
    }

    /// <summary>Placed by <see cref="SidecarApplication"/> right in front of the cache.</summary>
    public static void UseSidecarCompression(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<CompressionMiddleware>();
    }
}

/// <summary>The "compression" section of /status.</summary>
internal sealed class CompressionStatus(CompressionPolicyProvider policies, CompressionMetrics metrics) : IStatusContributor
{
    public string Name => "compression";

    public object GetStatus()
    {
        var policy = policies.Current;
        return new Dictionary<string, object?>
        {
            ["enabled"] = policy.Enabled,
            ["rules"] = policy.Rules.Select(r => r.Name).ToArray(),
            ["lastReload"] = policies.LastReload?.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["storedEncodes"] = metrics.StoredEncodes,
            ["storedResponses"] = metrics.StoredResponses,
            ["streamedEncodes"] = metrics.StreamedEncodes,
        };
    }
}
