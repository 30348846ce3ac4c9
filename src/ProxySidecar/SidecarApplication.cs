using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using ProxySidecar.Admin;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Compression;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;
using ProxySidecar.Limits;
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

    /// <summary>
    /// The builder's options: the content root (where appsettings.json is read) is the executable's directory, whatever
    /// the working directory, unless <c>--contentRoot</c> or ASPNETCORE_CONTENTROOT / DOTNET_CONTENTROOT names another.
    /// </summary>
    public static WebApplicationOptions BuilderOptions(string[] args) => new()
    {
        Args = args,
        ContentRootPath = ContentRootGiven(args) ? null : AppContext.BaseDirectory,
    };

    internal static bool ContentRootGiven(string[] args) =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOTNET_CONTENTROOT"))
        || args.Any(arg => arg.TrimStart('-', '/').StartsWith("contentRoot", StringComparison.OrdinalIgnoreCase));

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
        services.AddSingleton<RequestBufferBudget>();
        services.AddSingleton<IStatusContributor, RequestBufferingStatus>();
        services.AddHostedService<LifecycleService>();
        services.AddOptions<HostOptions>().Configure<IOptions<HostingOptions>>((host, hosting) =>
        {
            // Read while the host is built; an invalid value is reported with all others by ValidateSidecarOptions.
            if (hosting.ValueOrNull() is { } value)
            {
                host.ShutdownTimeout = value.ShutdownDelay + value.DrainTimeout;
            }
        });
        services.AddSingleton<Http2ConnectionGuard>();

        // Five dependencies at most: the two connection middlewares of the public listener come from the provider.
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<HostingOptions>, IOptions<TlsOptions>, CertificateStore, IEnumerable<ITlsHandshakeCustomizer>, IServiceProvider>(
            (kestrel, hosting, tls, certificates, customizers, provider) =>
            {
                // Kestrel's options are read while the application is built, before ValidateSidecarOptions
                // can name every bad key; with invalid settings the listeners are left out and start-up stops there.
                if (hosting.ValueOrNull() is { } hostingValue && tls.ValueOrNull() is { } tlsValue)
                {
                    Listeners.Configure(
                        kestrel,
                        hostingValue,
                        tlsValue,
                        certificates,
                        customizers,
                        http2Guard: provider.GetRequiredService<Http2ConnectionGuard>(),
                        beforeTls: provider.GetRequiredService<ClientConnectionLimiter>().Wrap);
                }
            });

        // TLS: the certificate is loaded before the listeners start.
        services.AddSingleton<CertificateStore>();
        services.AddSingleton(sp => new StartupLoad(sp.GetRequiredService<CertificateStore>().Initialize));
        services.AddSingleton<LoadBeforeListening>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<LoadBeforeListening>());

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
        builder.AddSidecarLimits();
        builder.AddSidecarCompression();
        services.AddPurgeEndpoint();
        services.AddOperatorConsole();
        builder.AddSidecarTelemetry();
        return builder;
    }

    /// <summary>The middleware order, in one place.</summary>
    public static WebApplication UseProxySidecar(this WebApplication app)
    {
        // 0. Every bad setting, then every unreadable certificate and unusable port, is named at once, before a
        //    listener or the pipeline reads one.
        StartupChecks.Run(app.Services);

        // 1. The admin listener is answered here and never reaches the app.
        app.UseMiddleware<AdminMiddleware>();

        // 2. One access-log line per public request.
        app.UseMiddleware<AccessLogMiddleware>();

        // 2a. A request head no app should see: an invalid Host is answered 400; underscore header names are dropped.
        app.UseMiddleware<RequestHeadGuardMiddleware>();

        // 3. Per-client rate limits (Sidecar:Limits:Rules), in front of the cache so that hits count too: beyond a
        //    limit, 429. Every request from a client is marked here first; background refreshes of the cache are
        //    not (the cap in 5. tells them apart by that). The rate limiter is skipped while there are no rules.
        app.UseMiddleware<ClientRequestMarker>();
        app.UseWhen(LimitsSetup.HasRateLimitRules(app.Services), limited => limited.UseRateLimiter());

        // 3a. Compression wraps the cache: the cache serves its stored compressed representations itself,
        //     everything else that the app sent uncompressed is compressed as it streams.
        app.UseSidecarCompression();

        // 4. The HTTP cache sits in front of routing, so it can answer without touching the app.
        app.UseSidecarCache();

        // 5. YARP: the route table, then the forwarder's pipeline. A body over the limit is answered 413 (and with
        //    request buffering, the whole body is read first, so a slow upload holds no slot of what follows). Then
        //    the cap on the app (Sidecar:Limits:App): only what the cache sends on (misses, revalidations,
        //    background refreshes) takes a slot, so hits and stale answers are served while the app is saturated;
        //    beyond the cap and its queue, 503. Then the forwarder, whose failures become problem+json.
        app.UseRouting();
        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<RequestBodyMiddleware>();
            pipeline.UseMiddleware<AppConcurrencyMiddleware>();
            pipeline.UseMiddleware<ForwarderErrorMiddleware>();
        });
        return app;
    }

    /// <summary>Framework categories that log per request or per connection; Warning unless Logging:LogLevel says otherwise.</summary>
    internal static readonly string[] QuietFrameworkCategories = ["Microsoft.AspNetCore", "Yarp", "System.Net.Http.HttpClient"];

    /// <summary>
    /// Off unless Logging:LogLevel turns it on: Kestrel's HTTP/2 category logs a Critical line for every stream it
    /// cannot queue on a connection flooded with resets (hundreds per connection); the HTTP/2 connection guard writes
    /// one line per such connection instead.
    /// </summary>
    internal const string KestrelHttp2Category = "Microsoft.AspNetCore.Server.Kestrel.Http2";

    /// <summary>
    /// Error unless Logging:LogLevel says otherwise: YARP logs a Warning for every failed forward, including each one a
    /// client causes (a slow or cut-off body); ForwarderErrorMiddleware logs every failure once, at Warning when the
    /// app is at fault and at Debug when the client is.
    /// </summary>
    internal const string YarpForwarderCategory = "Yarp.ReverseProxy.Forwarder.HttpForwarder";

    private static void ConfigureLogging(WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);

        // The framework's per-request categories (hosting diagnostics, routing, the forwarder: six lines per request at
        // Information) default to Warning in code, so that they stay quiet without appsettings.json. Inserted first,
        // so Logging:LogLevel for the same category (a later rule of the same specificity) still overrides them.
        builder.Services.Configure<LoggerFilterOptions>(filters =>
        {
            foreach (var category in QuietFrameworkCategories)
            {
                filters.Rules.Insert(0, new LoggerFilterRule(null, category, LogLevel.Warning, null));
            }

            filters.Rules.Insert(0, new LoggerFilterRule(null, KestrelHttp2Category, LogLevel.None, null));
            filters.Rules.Insert(0, new LoggerFilterRule(null, YarpForwarderCategory, LogLevel.Error, null));
        });
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
