namespace ProxySidecar.Caching.Rules;

/// <summary>
/// One immutable snapshot of <c>Sidecar:Cache</c>: the scalar settings and the compiled rule table.
/// Requests read it with one volatile read; a reload publishes a new one.
/// </summary>
internal sealed class CachePolicy
{
    public CachePolicy(CacheOptions options)
    {
        Enabled = options.Enabled;
        MaxEntryBytes = options.MaxEntryBytes;
        HeuristicFreshness = options.HeuristicFreshness;
        HeuristicMaxAgeMs = (long)options.HeuristicMaxAge.TotalMilliseconds;
        KeepStaleForMs = (long)options.KeepStaleFor.TotalMilliseconds;
        StaleIfUnreachableMs = (long)options.StaleIfUnreachable.TotalMilliseconds;
        MaxEntryLifetimeMs = (long)options.MaxEntryLifetime.TotalMilliseconds;
        HitForMissDuration = options.HitForMissDuration;
        CoalescingTimeout = options.CoalescingTimeout;
        BackgroundRefreshTimeout = options.BackgroundRefreshTimeout;
        TargetedCacheControlHeader = string.IsNullOrWhiteSpace(options.TargetedCacheControlHeader) ? null : options.TargetedCacheControlHeader.Trim();
        SurrogateKeyHeader = options.SurrogateKeyHeader;
        ForwardSurrogateKeyHeader = options.ForwardSurrogateKeyHeader;
        CacheStatusName = options.CacheStatusName;
        Rules = [.. options.Rules.Select(RuleCompiler.Compile)];
    }

    public bool Enabled { get; }

    public long MaxEntryBytes { get; }

    public bool HeuristicFreshness { get; }

    public long HeuristicMaxAgeMs { get; }

    public long KeepStaleForMs { get; }

    public long StaleIfUnreachableMs { get; }

    public long MaxEntryLifetimeMs { get; }

    public TimeSpan HitForMissDuration { get; }

    public TimeSpan CoalescingTimeout { get; }

    public TimeSpan BackgroundRefreshTimeout { get; }

    public string? TargetedCacheControlHeader { get; }

    public string SurrogateKeyHeader { get; }

    public bool ForwardSurrogateKeyHeader { get; }

    public string CacheStatusName { get; }

    public CompiledRule[] Rules { get; }

    /// <summary>
    /// The rule for a request: the first rule matching <paramref name="path"/> (the routed path), and the first
    /// matching its normalised form (<see cref="RulePath.Normalise"/>); when the two differ the stricter applies
    /// (a Bypass over any caching rule, then the one that widens less). <see cref="CompiledRule.None"/> when none matches.
    /// </summary>
    public CompiledRule Match(string method, string path)
    {
        var routed = First(method, path);
        var normalised = RulePath.Normalise(path);
        if (ReferenceEquals(normalised, path))
        {
            return routed;
        }

        var other = First(method, normalised);
        return other.Looseness <= routed.Looseness ? other : routed;
    }

    private CompiledRule First(string method, string path)
    {
        foreach (var rule in Rules)
        {
            if (rule.Matches(method, path))
            {
                return rule;
            }
        }

        return CompiledRule.None;
    }
}
