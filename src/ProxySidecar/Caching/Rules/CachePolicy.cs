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
        Fingerprint = FingerprintOf(options);
    }

    /// <summary>Every setting the policy was compiled from, as text: two policies with the same one behave alike.</summary>
    public string Fingerprint { get; }

    private static string FingerprintOf(CacheOptions o)
    {
        var text = new System.Text.StringBuilder();
        void Add(object? value) => text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{value}").Append('\u001f');
        void AddAll(IEnumerable<string> values) => Add(string.Join('\u001e', values));
        Add(o.Enabled);
        Add(o.MaxEntryBytes);
        Add(o.HeuristicFreshness);
        Add(o.HeuristicMaxAge);
        Add(o.KeepStaleFor);
        Add(o.StaleIfUnreachable);
        Add(o.MaxEntryLifetime);
        Add(o.HitForMissDuration);
        Add(o.CoalescingTimeout);
        Add(o.BackgroundRefreshTimeout);
        Add(o.TargetedCacheControlHeader);
        Add(o.SurrogateKeyHeader);
        Add(o.ForwardSurrogateKeyHeader);
        Add(o.CacheStatusName);
        foreach (var r in o.Rules)
        {
            text.Append('\u001d');
            Add(r.Name);
            Add(r.Path);
            Add(r.IgnoreCase);
            AddAll(r.Methods);
            Add(r.Bypass);
            Add(r.DefaultTtl);
            Add(r.ForcedTtl);
            Add(r.StaleWhileRevalidate);
            Add(r.StaleIfError);
            AddAll(r.IgnoreQueryParameters);
            AddAll(r.VaryHeaders);
            Add(r.AllowSetCookie);
            AddAll(r.Tags);
            Add(r.IgnoreClientCacheControl);
            AddAll(r.IgnoreCookies);
        }

        return text.ToString();
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
