namespace ProxySidecar.Caching;

/// <summary>The HTTP cache (<c>Sidecar:Cache</c>). Rules and the scalar settings reload at run time.</summary>
public sealed class CacheOptions
{
    public const string Section = "Sidecar:Cache";

    /// <summary>False turns the cache off: pure pass-through, no Cache-Status.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Bound of the in-memory store in bytes (entries are evicted beyond it). Needs a restart.</summary>
    public long SizeLimitBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// Managed heap allowed beyond what the cache holds (SizeLimitBytes, or the Redis first level): the process's heap
    /// is limited to the sum (never above a limit the runtime already has), and half of it bounds the bodies captured
    /// for the store at once. 0: no limit from the sidecar. Needs a restart.
    /// </summary>
    public long HeapHeadroomBytes { get; set; } = 96L * 1024 * 1024;

    /// <summary>Largest response body that is stored; larger ones stream through uncached.</summary>
    public long MaxEntryBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>Heuristic freshness (10% of Date − Last-Modified) for responses without explicit freshness.</summary>
    public bool HeuristicFreshness { get; set; } = true;

    /// <summary>Upper bound of a heuristic freshness lifetime.</summary>
    public TimeSpan HeuristicMaxAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a stale entry with validators is kept in the store for revalidation.</summary>
    public TimeSpan KeepStaleFor { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Longest time anything stays in the store (entries and soft-purge markers).</summary>
    public TimeSpan MaxEntryLifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// How long past its freshness a stored entry may still answer when the app cannot be reached (refused, reset,
    /// timed out): RFC 9111 §4.2.4. Never for entries with must-revalidate, proxy-revalidate, no-cache or s-maxage. Zero: off.
    /// </summary>
    public TimeSpan StaleIfUnreachable { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a URL found uncacheable is remembered, so requests for it are not coalesced.</summary>
    public TimeSpan HitForMissDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long concurrent misses wait for the one request that went to the app.</summary>
    public TimeSpan CoalescingTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound of a background refresh (stale-while-revalidate).</summary>
    public TimeSpan BackgroundRefreshTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bound of one store read or write; past it the operation counts as failed.</summary>
    public TimeSpan StoreTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long soft-purge markers read from the store are reused before being read again.</summary>
    public TimeSpan PurgeMarkerCacheDuration { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>RFC 9213 targeted field (e.g. CDN-Cache-Control) that, when the app sends it, replaces Cache-Control and Expires for this cache. Empty: off.</summary>
    public string? TargetedCacheControlHeader { get; set; }

    /// <summary>Response header carrying the app's space-separated purge tags.</summary>
    public string SurrogateKeyHeader { get; set; } = "Surrogate-Key";

    /// <summary>Pass the Surrogate-Key header on to clients (it is removed by default).</summary>
    public bool ForwardSurrogateKeyHeader { get; set; }

    /// <summary>The cache's name in Cache-Status.</summary>
    public string CacheStatusName { get; set; } = "ProxySidecar";

    /// <summary>Ordered rules, first match wins.</summary>
    public IList<CacheRuleOptions> Rules { get; } = [];
}

/// <summary>One rule of <c>Sidecar:Cache:Rules</c>.</summary>
public sealed class CacheRuleOptions
{
    /// <summary>Shown in logs; defaults to the rule's position.</summary>
    public string? Name { get; set; }

    /// <summary>Path glob: <c>*</c> within a segment, <c>**</c> across segments, <c>?</c> one character. Case-sensitive unless <see cref="IgnoreCase"/>.</summary>
    public string Path { get; set; } = "/**";

    /// <summary>Match <see cref="Path"/> without regard to case. Unset: on for Bypass rules, off for the others.</summary>
    public bool? IgnoreCase { get; set; }

    /// <summary>Methods the rule applies to (GET and HEAD when empty).</summary>
    public IList<string> Methods { get; } = [];

    /// <summary>Never look up or store; forward as is.</summary>
    public bool Bypass { get; set; }

    /// <summary>Freshness when the app gives none (instead of the heuristic).</summary>
    public TimeSpan? DefaultTtl { get; set; }

    /// <summary>Freshness that overrides the app's max-age, s-maxage and Expires.</summary>
    public TimeSpan? ForcedTtl { get; set; }

    /// <summary>stale-while-revalidate when the app does not send one.</summary>
    public TimeSpan? StaleWhileRevalidate { get; set; }

    /// <summary>stale-if-error when the app does not send one.</summary>
    public TimeSpan? StaleIfError { get; set; }

    /// <summary>Query parameters left out of the key (globs, e.g. utm_*).</summary>
    public IList<string> IgnoreQueryParameters { get; } = [];

    /// <summary>Request headers the key varies on in addition to the response's Vary.</summary>
    public IList<string> VaryHeaders { get; } = [];

    /// <summary>Store responses carrying Set-Cookie (the Set-Cookie field itself is never stored).</summary>
    public bool AllowSetCookie { get; set; }

    /// <summary>Purge tags given to every entry stored under this rule.</summary>
    public IList<string> Tags { get; } = [];

    /// <summary>Ignore the client's Cache-Control / Pragma (protection against cache busting).</summary>
    public bool IgnoreClientCacheControl { get; set; }

    /// <summary>
    /// Cookie names (globs, e.g. <c>_ga*</c>) that do not make a request personal on this path: a request whose
    /// cookies all match is looked up and stored like one without cookies. <c>*</c>: cookies do not matter here.
    /// </summary>
    public IList<string> IgnoreCookies { get; } = [];
}
