using System.Diagnostics;
using System.Diagnostics.Metrics;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Caching;

/// <summary>
/// The cache's instruments. <c>proxysidecar.cache.entries</c>/<c>.bytes</c> are what this process holds (the
/// memory store, or the first level in front of Redis), in bytes as the size limit counts them. Lookups, stores and
/// stored bytes carry the <c>rule</c> that applied (<see cref="CompiledRule.Name"/>, <c>(none)</c> when no rule
/// matched), and are kept per rule in <see cref="Rules"/> for /status and the status page.
/// </summary>
internal sealed class CacheMetrics
{
    private const string RuleTag = "rule";

    private readonly Counter<long> _lookups;
    private readonly Counter<long> _storeErrors;
    private readonly Counter<long> _stores;
    private readonly Counter<long> _storedBytes;
    private readonly Counter<long> _rejected;

    private readonly CacheClock _clock;

    public CacheMetrics(IMeterFactory meterFactory, Stores.ICacheOccupancy occupancy, CacheClock? clock = null)
    {
        _clock = clock ?? new CacheClock(TimeProvider.System);
        var meter = meterFactory.Create(SidecarTelemetry.MeterName);
        _lookups = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheLookups, "{lookup}", "HTTP cache lookups by result and rule.");
        _storeErrors = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheStoreErrors, "{error}", "Cache store operations that failed or timed out.");
        _stores = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheStores, "{entry}", "Responses written to the cache store, by rule.");
        _storedBytes = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheStoredBytes, "By", "Bytes written to the cache store, by rule.");
        _rejected = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CacheEntriesRejected, "{record}", "Records read from the store that were malformed or held another key; each was a miss.");
        meter.CreateObservableGauge(SidecarTelemetry.Instruments.CacheEntries, () => occupancy.Entries, "{entry}", "Records this process holds in memory (the memory store, or the first level in front of Redis).");
        meter.CreateObservableGauge(SidecarTelemetry.Instruments.CacheBytes, () => occupancy.Bytes, "By", "Bytes charged for those records against the size limit: body, headers, key, tags and bookkeeping.");
    }

    /// <summary>Per rule: totals, stores and the lookups of the last minutes.</summary>
    public RuleFiguresTable Rules { get; } = new();

    public long NowMs => _clock.NowMs;

    public void Lookup(CacheResult result) => Lookup(result, CompiledRule.None.Name);

    public void Lookup(CacheResult result, string rule)
    {
        var figures = Rules.For(rule);
        figures.Count(result, _clock.NowMs);
        _lookups.Add(1, new KeyValuePair<string, object?>("result", result.Name()), new KeyValuePair<string, object?>(RuleTag, figures.Rule));
    }

    public void EntryRejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void StoreError(string operation) => _storeErrors.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void Stored(long bytes) => Stored(bytes, CompiledRule.None.Name);

    public void Stored(long bytes, string rule)
    {
        var figures = Rules.For(rule);
        figures.Stored(bytes);
        var tag = new KeyValuePair<string, object?>(RuleTag, figures.Rule);
        _stores.Add(1, tag);
        _storedBytes.Add(bytes, tag);
    }

    /// <summary>Span attributes on the current request's activity.</summary>
    public static void Annotate(string result, string? keyHash, long? ageSeconds, long? ttlSeconds)
    {
        // Only a span someone records gets the tags: without a tracer (no exporter) ASP.NET Core still starts its
        // request Activity for the trace context and the log scopes, and tags on it would be work no one reads.
        var activity = Activity.Current;
        if (activity is null || !activity.IsAllDataRequested || !activity.Source.HasListeners())
        {
            return;
        }

        activity.SetTag("proxysidecar.cache.result", result);
        if (keyHash is not null)
        {
            activity.SetTag("proxysidecar.cache.key_hash", keyHash);
        }

        if (ageSeconds is { } age)
        {
            activity.SetTag("proxysidecar.cache.age", age);
        }

        if (ttlSeconds is { } ttl)
        {
            activity.SetTag("proxysidecar.cache.ttl", ttl);
        }
    }
}
