using System.Diagnostics.Metrics;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Limits;

/// <summary>The limits' instruments. Gauges are read from the live policy when a reader collects, never on the request path.</summary>
internal sealed class LimitsMetrics
{
    private readonly Counter<long> _rateRejected;
    private readonly Counter<long> _rateOverflowed;
    private readonly Counter<long> _appRejected;
    private readonly Counter<long> _connectionsRejected;
    private Func<LimitsPolicy>? _policy;

    public LimitsMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(SidecarTelemetry.MeterName);
        _rateRejected = meter.CreateCounter<long>(SidecarTelemetry.Instruments.LimitsRateRejected, "{request}", "Requests a rate-limit rule refused with 429, by rule.");
        _rateOverflowed = meter.CreateCounter<long>(SidecarTelemetry.Instruments.LimitsRateOverflowed, "{request}", "Requests counted in a rule's shared overflow partition because its table of clients was full, by rule.");
        _appRejected = meter.CreateCounter<long>(SidecarTelemetry.Instruments.LimitsAppRejected, "{request}", "Requests the cap on the app refused with 503, by reason: queue_full, queue_timeout, refresh (a background refresh that found no free slot).");
        _connectionsRejected = meter.CreateCounter<long>(SidecarTelemetry.Instruments.LimitsConnectionsRejected, "{connection}", "Public connections closed because their client address already held MaxConnectionsPerClient.");
        meter.CreateObservableGauge(SidecarTelemetry.Instruments.LimitsRatePartitions, ObservePartitions, "{partition}", "Clients a rate-limit rule keeps track of, by rule (at most MaxPartitions).");
        meter.CreateObservableGauge(SidecarTelemetry.Instruments.LimitsAppInFlight, () => ObserveApp(static gate => gate.InFlight), "{request}", "Requests in flight to the app under the cap.");
        meter.CreateObservableGauge(SidecarTelemetry.Instruments.LimitsAppQueued, () => ObserveApp(static gate => gate.Queued), "{request}", "Requests waiting for a slot of the cap on the app.");
    }

    /// <summary>Where the gauges read from: the live policy (set by <see cref="LimitsPolicyProvider"/>).</summary>
    public void Observe(Func<LimitsPolicy> policy) => _policy = policy;

    public void RateRejected(string rule) => _rateRejected.Add(1, new KeyValuePair<string, object?>("rule", rule));

    public void RateOverflowed(string rule) => _rateOverflowed.Add(1, new KeyValuePair<string, object?>("rule", rule));

    public void AppRejected(string reason) => _appRejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ConnectionRejected() => _connectionsRejected.Add(1);

    private IEnumerable<Measurement<int>> ObservePartitions()
    {
        if (_policy?.Invoke() is not { } policy)
        {
            return [];
        }

        return policy.Rules.Select(r => new Measurement<int>(r.Table.Count, new KeyValuePair<string, object?>("rule", r.Name)));
    }

    private IEnumerable<Measurement<int>> ObserveApp(Func<AppGate, int> read) =>
        _policy?.Invoke().App is { } app ? [new Measurement<int>(read(app.Gate))] : [];
}
