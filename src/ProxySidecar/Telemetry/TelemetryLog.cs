namespace ProxySidecar.Telemetry;

/// <summary>Says once at start what leaves the pod, so an operator can check the OTEL_* variables took effect.</summary>
internal sealed partial class TelemetryStartupLog(OtlpSettings otlp, IConfiguration configuration, ILogger<TelemetryStartupLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!otlp.Any)
        {
            NothingExported(logger);
            return Task.CompletedTask;
        }

        var signals = string.Join(", ", new[] { otlp.Traces ? "traces" : null, otlp.Metrics ? "metrics" : null, otlp.Logs ? "logs" : null }.OfType<string>());
        Exporting(logger, signals, configuration[OtlpSettings.Endpoint] ?? "(per-signal endpoints)", configuration[OtlpSettings.Protocol] ?? "grpc");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(601, LogLevel.Information, "OpenTelemetry: exporting {Signals} over OTLP to {Endpoint} ({Protocol}); metrics also at /metrics on the admin port.")]
    private static partial void Exporting(ILogger logger, string signals, string endpoint, string protocol);

    [LoggerMessage(602, LogLevel.Information, "OpenTelemetry: no OTLP endpoint set, nothing is exported; metrics at /metrics on the admin port.")]
    private static partial void NothingExported(ILogger logger);
}
