using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxySidecar.Admin;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;
using ProxySidecar.Logging;
using ProxySidecar.Proxy;
using ProxySidecar.Telemetry;
using ProxySidecar.Tls;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar;

/// <summary>
/// The one place that knows the service wiring and the middleware order.
/// </summary>
internal static class SidecarApplication
{
    public const string ReverseProxySection = "ReverseProxy";

    public static WebApplicationBuilder AddProxySidecar(this WebApplicationBuilder builder)
    {
        var configFile = builder.Configuration.AddSidecarConfigFile();
        var services = builder.Services;

        ConfigureLogging(builder);

        services.TryAddSingleton(TimeProvider.System);

        // Nothing here protects data at rest; keep the framework's key ring in memory so nothing is
        // written to disk (the container's root filesystem is read-only).
        services.AddSingleton<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider, Microsoft.AspNetCore.DataProtection.EphemeralDataProtectionProvider>();
        if (configFile is not null)
        {
            services.AddSingleton(configFile);
            services.AddHostedService<ConfigFileLogger>();
            services.AddSingleton<IStatusContributor, ConfigFileStatusContributor>();
        }

        // Options: bound from the Sidecar section, every error collected and named at start.
        services.AddOptions<HostingOptions>().BindConfiguration(HostingOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HostingOptions>, HostingOptionsValidator>();
        services.AddOptions<TlsOptions>().BindConfiguration(TlsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TlsOptions>, TlsOptionsValidator>();
        services.AddOptions<UpstreamOptions>().BindConfiguration(UpstreamOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<UpstreamOptions>, UpstreamOptionsValidator>();
        services.AddOptions<AccessLogOptions>().BindConfiguration(AccessLogOptions.Section);
        services.AddSingleton<IAccessLogSink, StdoutAccessLogSink>();
        services.AddSingleton<AccessLogWriter>();
        services.AddSingleton<IStatusContributor, AccessLogStatus>();
        services.AddSingleton(typeof(LastGoodOptions<>));

        // Hosting: listeners, limits, lifecycle and drain.
        services.AddSingleton<SidecarLifecycle>();
        services.AddHostedService<LifecycleService>();
        services.AddOptions<HostOptions>().Configure<IOptions<HostingOptions>>((host, hosting) =>
        {
            // Read while the host is built; an invalid value is reported with all others by ValidateSidecarOptions.
            if (hosting.ValueOrNull() is { } value)
            {
                host.ShutdownTimeout = value.ShutdownDelay + value.DrainTimeout;
            }
        });
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<HostingOptions>, IOptions<TlsOptions>, CertificateStore, IEnumerable<ITlsHandshakeCustomizer>>(
            (kestrel, hosting, tls, certificates, customizers) =>
            {
                // Kestrel's options are read while the application is built, before ValidateSidecarOptions
                // can name every bad key; with invalid settings the listeners are left out and start-up stops there.
                if (hosting.ValueOrNull() is { } hostingValue && tls.ValueOrNull() is { } tlsValue)
                {
                    Listeners.Configure(kestrel, hostingValue, tlsValue, certificates, customizers);
                }
            });

        // TLS: the certificate is loaded before the listeners start.
        services.AddSingleton<CertificateStore>();
        // Not AddHostedService: it keeps one registration per implementation type, and the client CA uses this type too.
        services.AddSingleton<IHostedService>(sp => new LoadBeforeListening(sp.GetRequiredService<CertificateStore>().Initialize));

        // Forwarding.
        services.AddSingleton<UpstreamHealth>();
        services.AddHostedService<UpstreamProbeService>();
        var proxy = services.AddReverseProxy().AddTransforms(ForwardingTransforms.Apply);
        if (builder.Configuration.GetSection(ReverseProxySection).GetChildren().Any())
        {
            proxy.LoadFromConfig(builder.Configuration.GetSection(ReverseProxySection));
            services.AddHostedService<ReverseProxySectionNotice>();
        }
        else
        {
            services.AddSingleton<SidecarProxyConfigProvider>();
            services.AddSingleton<Yarp.ReverseProxy.Configuration.IProxyConfigProvider>(sp => sp.GetRequiredService<SidecarProxyConfigProvider>());
        }

        services.AddSingleton<IForwarderHttpClientFactory, UpstreamHttpClientFactory>();

        // Admin listener.
        services.AddSingleton<IAdminEndpoint, LivenessEndpoint>();
        services.AddSingleton<ReadinessEndpoint>();
        services.AddSingleton<IAdminEndpoint>(sp => sp.GetRequiredService<ReadinessEndpoint>());
        services.AddSingleton<IAdminEndpoint, StatusEndpoint>();
        services.AddSingleton<IStatusContributor, MemoryStatus>();
        services.AddHostedService<IdleMemoryTrim>();

        builder.AddSidecarTls();
        builder.AddSidecarCache();
        builder.AddSidecarCacheStore();
        services.AddPurgeEndpoint();
        services.AddOperatorConsole();
        builder.AddSidecarTelemetry();
        return builder;
    }

    /// <summary>The middleware order, in one place.</summary>
    public static WebApplication UseProxySidecar(this WebApplication app)
    {
        // 0. Every bad setting is named at once, before a listener or the pipeline reads one.
        app.Services.ValidateSidecarOptions();

        // 1. The admin listener is answered here and never reaches the app.
        app.UseMiddleware<AdminMiddleware>();

        // 2. One access-log line per public request.
        app.UseMiddleware<AccessLogMiddleware>();

        // 3. The HTTP cache sits in front of routing, so it can answer without touching the app.
        app.UseSidecarCache();

        // 4. YARP: the route table, then the forwarder; failures become problem+json.
        app.UseRouting();
        app.MapReverseProxy(pipeline => pipeline.UseMiddleware<ForwarderErrorMiddleware>());
        return app;
    }

    private static void ConfigureLogging(WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        builder.Logging.AddJsonConsole(o =>
        {
            o.IncludeScopes = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
        });
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

/// <summary>Says once at start-up that the full ReverseProxy section is in use.</summary>
internal sealed class ReverseProxySectionNotice(ILogger<ReverseProxySectionNotice> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        ProxyLog.UsingReverseProxySection(logger);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
