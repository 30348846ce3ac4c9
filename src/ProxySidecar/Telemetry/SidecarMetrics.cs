using System.Diagnostics.Metrics;
using ProxySidecar.Configuration;
using ProxySidecar.Proxy;
using ProxySidecar.Tls;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Telemetry;

/// <summary>
/// The sidecar's own instruments that belong to no other feature: certificate expiry and upstream
/// readiness (observed when a reader collects, nothing on the request path), and forwarder errors.
/// </summary>
internal sealed class SidecarMetrics
{
    private readonly Counter<long> _forwarderErrors;

    public SidecarMetrics(IMeterFactory meters, CertificateStore certificates, UpstreamHealth upstream, LastGoodOptions<UpstreamOptions> upstreamOptions)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(SidecarTelemetry.MeterName);

        meter.CreateObservableGauge(
            SidecarTelemetry.Instruments.CertificateNotAfter,
            () => certificates.Current is { } certificate
                ? [new Measurement<long>(certificate.NotAfter.ToUnixTimeSeconds())]
                : Array.Empty<Measurement<long>>(),
            unit: "s",
            description: "The serving certificate's not-after time, as seconds since the Unix epoch.");

        // The same rule as /healthz/ready: the app answered within three probe intervals.
        meter.CreateObservableGauge(
            SidecarTelemetry.Instruments.UpstreamUp,
            () => upstream.IsUp(upstreamOptions.Current) ? 1 : 0,
            unit: "1",
            description: "1 when the app answered within three probe intervals (what readiness requires), else 0.");

        _forwarderErrors = meter.CreateCounter<long>(
            SidecarTelemetry.Instruments.ForwarderErrors,
            unit: "{error}",
            description: "Requests the forwarder could not complete, by YARP error (Request, RequestTimedOut, RequestCanceled ...).");
    }

    public void ForwarderFailed(ForwarderError error)
    {
        if (_forwarderErrors.Enabled)
        {
            _forwarderErrors.Add(1, new KeyValuePair<string, object?>("error", ErrorName(error)));
        }
    }

    private static string ErrorName(ForwarderError error) => error switch
    {
        ForwarderError.Request => nameof(ForwarderError.Request),
        ForwarderError.RequestTimedOut => nameof(ForwarderError.RequestTimedOut),
        ForwarderError.RequestCanceled => nameof(ForwarderError.RequestCanceled),
        ForwarderError.RequestBodyCanceled => nameof(ForwarderError.RequestBodyCanceled),
        ForwarderError.RequestBodyClient => nameof(ForwarderError.RequestBodyClient),
        ForwarderError.RequestBodyDestination => nameof(ForwarderError.RequestBodyDestination),
        ForwarderError.ResponseHeaders => nameof(ForwarderError.ResponseHeaders),
        ForwarderError.ResponseBodyCanceled => nameof(ForwarderError.ResponseBodyCanceled),
        ForwarderError.ResponseBodyClient => nameof(ForwarderError.ResponseBodyClient),
        ForwarderError.ResponseBodyDestination => nameof(ForwarderError.ResponseBodyDestination),
        ForwarderError.NoAvailableDestinations => nameof(ForwarderError.NoAvailableDestinations),
        _ => error.ToString(),
    };
}
