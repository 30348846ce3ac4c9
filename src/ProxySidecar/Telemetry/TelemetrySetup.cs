using System.Diagnostics;
using System.Reflection;
using Microsoft.AspNetCore.Http.Features;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using ProxySidecar.Admin;
using ProxySidecar.Hosting;

namespace ProxySidecar.Telemetry;

/// <summary>
/// OpenTelemetry wiring: traces, metrics and logs, exported over OTLP only when the standard variables
/// name an endpoint; metrics are always readable as Prometheus text on the admin listener's /metrics.
/// </summary>
internal static class TelemetrySetup
{
    /// <summary>The service.name used when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES sets one.</summary>
    public const string DefaultServiceName = "proxysidecar";

    /// <summary>The meters /metrics and the OTLP metric exporter listen to.</summary>
    public static readonly string[] Meters =
    [
        SidecarTelemetry.MeterName,
        "Microsoft.AspNetCore.Hosting",          // http.server.request.duration, http.server.active_requests
        "Microsoft.AspNetCore.Server.Kestrel",   // kestrel.active_connections, kestrel.connection.duration, kestrel.tls_handshake.duration ...
        "System.Net.Http",                       // http.client.request.duration, http.client.open_connections ... (the calls to the app)
        "System.Runtime",                        // dotnet.gc.*, dotnet.process.cpu.time, dotnet.thread_pool.* ...
    ];

    /// <summary>The instruments <see cref="TelemetryOptions.InFlightMetrics"/> turns on: each moves on every request.</summary>
    public static readonly string[] InFlightInstruments =
    [
        "http.server.active_requests",   // +1 and -1 per request
        "http.client.active_requests",   // +1 and -1 per call to the app
        "http.client.open_connections",  // idle -> active -> idle per call to the app: four updates
    ];

    private static readonly string ServiceVersion =
        typeof(TelemetrySetup).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public static void AddSidecarTelemetry(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var otlp = OtlpSettings.Read(builder.Configuration);

        services.AddSingleton(otlp);
        services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section);
        services.AddSingleton<SidecarMetrics>();
        services.AddSingleton<PrometheusScraper>();
        services.AddSingleton<IAdminEndpoint, MetricsEndpoint>();
        services.AddSingleton<IStatusContributor, TelemetryStatus>();
        services.AddHostedService<TelemetryStartupLog>();

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(DefaultServiceName, serviceVersion: ServiceVersion)

                // Applied again after the default so OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win.
                .AddEnvironmentVariableDetector())
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(Meters);
                if (!InFlightMetricsAsked(builder.Configuration))
                {
                    // A dropped instrument is not listened to at all: its updates cost the request nothing.
                    foreach (var name in InFlightInstruments)
                    {
                        metrics.AddView(name, MetricStreamConfiguration.Drop);
                    }
                }

                metrics.AddInstrumentation(sp => sp.GetRequiredService<SidecarMetrics>());
                metrics.AddReader(sp => sp.GetRequiredService<PrometheusScraper>().Reader);
                if (otlp.Metrics)
                {
                    metrics.AddOtlpExporter(o => otlp.ApplySignalOverrides(TelemetrySignal.Metrics, o));
                }
            });

        // Without a trace exporter no tracing instrumentation is registered at all. ASP.NET Core still
        // creates its request Activity (from the client's traceparent) and the forwarder's handler still
        // injects it, so the app's traces continue the client's either way.
        if (otlp.Traces)
        {
            services.AddSidecarTracing();
            telemetry.WithTracing(tracing => tracing.AddOtlpExporter(o => otlp.ApplySignalOverrides(TelemetrySignal.Traces, o)));
        }

        if (otlp.Logs)
        {
            telemetry.WithLogging(
                logging => logging.AddOtlpExporter(o => otlp.ApplySignalOverrides(TelemetrySignal.Logs, o)),
                options =>
                {
                    options.IncludeFormattedMessage = true;
                    options.IncludeScopes = true;
                });
        }
    }

    /// <summary>
    /// Read while the meter provider is set up, before the options are bound: a value that is not a boolean counts as
    /// false here, and start-up validation then refuses it with every other bad setting.
    /// </summary>
    private static bool InFlightMetricsAsked(ConfigurationManager configuration) =>
        bool.TryParse(configuration[TelemetryOptions.Section + ":" + nameof(TelemetryOptions.InFlightMetrics)], out var asked) && asked;

    /// <summary>
    /// Tracing instrumentation without an exporter: a server span per public request, a client span per
    /// call to the app, and the sidecar's own ActivitySource. Called once an exporter is configured (and by
    /// tests that add their own exporter); calling it again does nothing.
    /// </summary>
    internal static IServiceCollection AddSidecarTracing(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(SidecarTracingMarker)))
        {
            return services;
        }

        services.AddSingleton<SidecarTracingMarker>();
        services.AddOpenTelemetry().WithTracing(tracing => tracing
            .AddSource(SidecarTelemetry.ActivitySourceName)
            .AddAspNetCoreInstrumentation(o =>
            {
                // Probes and scrapes on the admin listener are not traced.
                o.Filter = context => !Admin.AdminListener.IsAdmin(context);
            })
            .AddHttpClientInstrumentation(o =>
            {
                // Only calls made while serving a request (the forwarder's); the readiness probe's
                // background requests would otherwise each start a trace of their own.
                o.FilterHttpRequestMessage = _ => Activity.Current?.Parent is not null;
            }));
        return services;
    }

    private sealed class SidecarTracingMarker;
}

/// <summary>The "telemetry" section of /status: which signals leave the pod over OTLP.</summary>
internal sealed class TelemetryStatus(OtlpSettings otlp) : IStatusContributor
{
    public string Name => "telemetry";

    public object GetStatus() => new TelemetryStatusBody(
        new OtlpStatusBody(otlp.Traces, otlp.Metrics, otlp.Logs),
        "/metrics");
}

internal sealed record OtlpStatusBody(bool Traces, bool Metrics, bool Logs);

internal sealed record TelemetryStatusBody(OtlpStatusBody Otlp, string Prometheus);
