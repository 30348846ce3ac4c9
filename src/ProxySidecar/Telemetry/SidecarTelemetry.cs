namespace ProxySidecar.Telemetry;

/// <summary>
/// The names every feature uses for its telemetry. Features create their own instruments from
/// <c>IMeterFactory.Create(SidecarTelemetry.MeterName)</c> (units set) and their spans from
/// an ActivitySource named <see cref="ActivitySourceName"/>; the OpenTelemetry wiring subscribes to both names.
/// </summary>
internal static class SidecarTelemetry
{
    public const string MeterName = "ProxySidecar";

    public const string ActivitySourceName = "ProxySidecar";

    /// <summary>Instrument names, one place, so dashboards and alerts can rely on them.</summary>
    public static class Instruments
    {
        /// <summary>Gauge, unit "s": the serving certificate's not-after as a Unix timestamp.</summary>
        public const string CertificateNotAfter = "proxysidecar.tls.certificate.not_after";

        /// <summary>Counter, unit "{reload}", tag <c>outcome</c> = success | failure.</summary>
        public const string CertificateReloads = "proxysidecar.tls.certificate.reloads";

        /// <summary>Gauge, unit "1": 1 when the app answered recently (readiness), else 0.</summary>
        public const string UpstreamUp = "proxysidecar.upstream.up";

        /// <summary>Counter, unit "{lookup}", tags <c>result</c> = hit | miss | stale | revalidated | bypass | uncacheable, and <c>rule</c> (the rule's name, or <c>(none)</c>).</summary>
        public const string CacheLookups = "proxysidecar.cache.lookups";

        /// <summary>Counter, unit "{error}", tag <c>operation</c> = get | set | evict.</summary>
        public const string CacheStoreErrors = "proxysidecar.cache.store.errors";

        /// <summary>Counter, unit "{entry}", tag <c>rule</c>: responses written to the store.</summary>
        public const string CacheStores = "proxysidecar.cache.stores";

        /// <summary>Counter, unit "{record}", tag <c>reason</c> = malformed | key-mismatch: store records rejected on read (each a miss).</summary>
        public const string CacheEntriesRejected = "proxysidecar.cache.entries.rejected";

        /// <summary>Counter, unit "By", tag <c>rule</c>: bytes written to the store.</summary>
        public const string CacheStoredBytes = "proxysidecar.cache.stored_bytes";

        /// <summary>Gauge, unit "{entry}": entries held by the in-memory store (or first level).</summary>
        public const string CacheEntries = "proxysidecar.cache.entries";

        /// <summary>Gauge, unit "By": bytes held by the in-memory store (or first level).</summary>
        public const string CacheBytes = "proxysidecar.cache.bytes";

        /// <summary>Gauge, unit "1": shared-store circuit breaker, 0 closed, 1 half-open, 2 open.</summary>
        public const string CacheBreakerState = "proxysidecar.cache.breaker.state";

        /// <summary>Gauge, unit "1": 1 while the Redis connection is up.</summary>
        public const string CacheRedisConnected = "proxysidecar.cache.redis.connected";

        /// <summary>Counter, unit "{response}", tags <c>encoding</c> = br | gzip, <c>source</c> = stored | streamed: responses sent compressed.</summary>
        public const string CompressionResponses = "proxysidecar.compression.responses";

        /// <summary>Counter, unit "{encode}", tags <c>encoding</c>, <c>source</c>: encoder runs (a stored entry compressed once, or a streamed response).</summary>
        public const string CompressionEncodes = "proxysidecar.compression.encodes";

        /// <summary>Counter, unit "By", tags <c>encoding</c>, <c>source</c>: bytes given to the encoders.</summary>
        public const string CompressionInputBytes = "proxysidecar.compression.input_bytes";

        /// <summary>Counter, unit "By", tags <c>encoding</c>, <c>source</c>: bytes the encoders produced.</summary>
        public const string CompressionOutputBytes = "proxysidecar.compression.output_bytes";

        /// <summary>Counter, unit "{error}", tag <c>error</c> = YARP's ForwarderError name (Request, RequestTimedOut ...).</summary>
        public const string ForwarderErrors = "proxysidecar.forwarder.errors";

        /// <summary>Counter, unit "{request}", tag <c>rule</c>: requests a rate-limit rule refused (429).</summary>
        public const string LimitsRateRejected = "proxysidecar.limits.rate.rejected";

        /// <summary>Counter, unit "{request}", tag <c>rule</c>: requests counted in a rule's overflow partition because its table was full.</summary>
        public const string LimitsRateOverflowed = "proxysidecar.limits.rate.overflowed";

        /// <summary>Gauge, unit "{partition}", tag <c>rule</c>: clients a rule keeps track of (at most Sidecar:Limits:MaxPartitions).</summary>
        public const string LimitsRatePartitions = "proxysidecar.limits.rate.partitions";

        /// <summary>Gauge, unit "{request}": requests in flight to the app under the cap.</summary>
        public const string LimitsAppInFlight = "proxysidecar.limits.app.in_flight";

        /// <summary>Gauge, unit "{request}": requests waiting for a slot of the cap.</summary>
        public const string LimitsAppQueued = "proxysidecar.limits.app.queued";

        /// <summary>Counter, unit "{request}", tag <c>reason</c> = queue_full | queue_timeout | refresh: requests the cap refused (503).</summary>
        public const string LimitsAppRejected = "proxysidecar.limits.app.rejected";

        /// <summary>Counter, unit "{connection}": public connections closed because their client address held MaxConnectionsPerClient.</summary>
        public const string LimitsConnectionsRejected = "proxysidecar.limits.connections.rejected";
    }

    /// <summary>
    /// Span attributes the cache sets on the request's server span (<c>Activity.Current</c> in the cache
    /// middleware); set them only when <c>Activity.IsAllDataRequested</c>.
    /// </summary>
    public static class Attributes
    {
        /// <summary>hit | miss | stale | revalidated | bypass | uncacheable (as the lookups counter's <c>result</c>).</summary>
        public const string CacheResult = "proxysidecar.cache.result";

        /// <summary>Hex hash of the cache key (never the key itself: it holds the path and query).</summary>
        public const string CacheKeyHash = "proxysidecar.cache.key_hash";

        /// <summary>Age in seconds of the stored response served (the Age header value).</summary>
        public const string CacheAge = "proxysidecar.cache.age";

        /// <summary>Freshness lifetime in seconds of the stored response.</summary>
        public const string CacheTtl = "proxysidecar.cache.ttl";
    }
}
