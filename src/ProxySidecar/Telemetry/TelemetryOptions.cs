namespace ProxySidecar.Telemetry;

/// <summary>The "Sidecar:Telemetry" section: what the metrics cover beyond the default set.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Sidecar:Telemetry";

    /// <summary>
    /// The gauges of requests and connections in progress that move on every request: http.server.active_requests,
    /// http.client.active_requests and http.client.open_connections. Off by default: each request updates them several
    /// times, each update a lookup of its tag set, for a figure that request rates and durations already give.
    /// </summary>
    public bool InFlightMetrics { get; set; }
}
