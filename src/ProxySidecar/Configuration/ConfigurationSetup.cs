using Microsoft.Extensions.DependencyInjection.Extensions;
using ProxySidecar.Admin;

namespace ProxySidecar.Configuration;

/// <summary>Registration of configuration: the extra (ConfigMap) file and the last-good value of every live section.</summary>
internal static class ConfigurationSetup
{
    public static void AddSidecarConfiguration(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(typeof(LastGoodOptions<>));
        var configFile = builder.Configuration.AddSidecarConfigFile();
        if (configFile is not null)
        {
            services.AddSingleton(configFile);
            services.AddHostedService<ConfigFileLogger>();
            services.AddSingleton<IStatusContributor, ConfigFileStatusContributor>();
        }
    }
}

/// <summary>Logs what happens to the extra config file.</summary>
internal sealed partial class ConfigFileLogger(ConfigFileStatus status, ILogger<ConfigFileLogger> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        status.Reloaded += OnReloaded;
        status.Failed += OnFailed;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        status.Reloaded -= OnReloaded;
        status.Failed -= OnFailed;
        return Task.CompletedTask;
    }

    private void OnReloaded() => Log.Reloaded(logger, status.Path);

    private void OnFailed(Exception error) => Log.Failed(logger, error, status.Path, error.Message);

    private static partial class Log
    {
        [LoggerMessage(11, LogLevel.Information, "Configuration reloaded from {Path}.")]
        public static partial void Reloaded(ILogger logger, string path);

        [LoggerMessage(12, LogLevel.Error, "The changed configuration in {Path} was rejected; the last good configuration stays: {Reason}")]
        public static partial void Failed(ILogger logger, Exception error, string path, string reason);
    }
}

