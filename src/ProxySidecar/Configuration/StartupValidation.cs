using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;
using ProxySidecar.Hosting;
using ProxySidecar.Logging;
using ProxySidecar.Proxy;
using ProxySidecar.Tls;

namespace ProxySidecar.Configuration;

/// <summary>
/// Validates every section of the sidecar's own settings before anything reads one, so that start-up
/// names every bad key at once (the host's own start-up validation stops at the first section a
/// listener or the host itself happens to read, and at the first value that does not convert).
/// </summary>
internal static class StartupValidation
{
    public static void ValidateSidecarOptions(this IServiceProvider services)
    {
        var failures = new List<Exception>();
        Check<HostingOptions>(services, failures);
        Check<TlsOptions>(services, failures);
        Check<UpstreamOptions>(services, failures);
        Check<AccessLogOptions>(services, failures);
        Check<Admin.PurgeOptions>(services, failures);
        Check<Caching.CacheOptions>(services, failures);
        Check<Caching.Stores.CacheStoreOptions>(services, failures);
        Check<Limits.LimitsOptions>(services, failures);
        Check<Compression.CompressionOptions>(services, failures);
        Check<WarmUp.WarmUpOptions>(services, failures);
        Check<Telemetry.TelemetryOptions>(services, failures);

        // Every section is listed above, each checked on its own, so that one bad section never hides another's
        // problems. Anything else registered with ValidateOnStart is checked here only when all the above passed
        // (the host would check it only once it starts, and log the failure with a stack trace).
        if (failures.Count == 0)
        {
            try
            {
                services.GetService<IStartupValidator>()?.Validate();
            }
            catch (Exception error) when (IsConfigurationError(error) || error is AggregateException)
            {
                failures.Add(error);
            }
        }

        if (failures.Count > 0)
        {
            throw new AggregateException("The sidecar's configuration is invalid.", failures);
        }
    }

    /// <summary>
    /// The value when it binds and validates, otherwise null: for code that runs while the host is built,
    /// before <see cref="ValidateSidecarOptions"/> reports the problem with all the others.
    /// </summary>
    public static TOptions? ValueOrNull<TOptions>(this IOptions<TOptions> options)
        where TOptions : class
    {
        try
        {
            return options.Value;
        }
        catch (Exception error) when (IsConfigurationError(error))
        {
            return null;
        }
    }

    public static bool IsConfigurationError(Exception error) =>
        error is OptionsValidationException
        || (error is InvalidOperationException && error.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal));

    private static void Check<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(
        IServiceProvider services, List<Exception> failures)
        where TOptions : class
    {
        try
        {
            _ = services.GetRequiredService<IOptionsMonitor<TOptions>>().CurrentValue;
        }
        catch (Exception error) when (IsConfigurationError(error))
        {
            failures.Add(error);
        }
    }
}
