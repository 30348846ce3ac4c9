using System.Text;
using OpenTelemetry.Metrics;
using ProxySidecar.Admin;

namespace ProxySidecar.Telemetry;

/// <summary>
/// Owns the pull reader behind /metrics. The reader is registered with the sidecar's MeterProvider next
/// to any OTLP reader; each keeps its own cumulative state.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The exporter belongs to the reader, which the MeterProvider disposes.")]
internal sealed class PrometheusScraper
{
    private static readonly TimeSpan CollectTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly PrometheusTextExporter _exporter = new();

    public PrometheusScraper() => Reader = new BaseExportingMetricReader(_exporter);

    public MetricReader Reader { get; }

    /// <summary>The current values as Prometheus text; null when the meter provider is gone (shutting down).</summary>
    public string? Scrape()
    {
        // Collect is synchronous and calls the exporter on this thread; the lock keeps one scrape's
        // text from mixing with another's.
        lock (_gate)
        {
            var text = new StringBuilder(16 * 1024);
            _exporter.Target = text;
            try
            {
                return _exporter.Collect?.Invoke((int)CollectTimeout.TotalMilliseconds) == true ? text.ToString() : null;
            }
            finally
            {
                _exporter.Target = null;
            }
        }
    }
}

/// <summary>GET /metrics on the admin listener: every instrument the sidecar listens to, as Prometheus text.</summary>
internal sealed class MetricsEndpoint : IAdminEndpoint
{
    private readonly PrometheusScraper _scraper;

    // Taking the provider makes sure it is built (and listening) before the first scrape.
    public MetricsEndpoint(PrometheusScraper scraper, MeterProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        _scraper = scraper;
    }

    public string Method => HttpMethods.Get;

    public string Path => "/metrics";

    public async Task HandleAsync(HttpContext context)
    {
        context.Response.Headers.CacheControl = "no-store";
        var text = _scraper.Scrape();
        if (text is null)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        context.Response.ContentType = PrometheusText.ContentType;
        await context.Response.WriteAsync(text, context.RequestAborted).ConfigureAwait(false);
    }
}
