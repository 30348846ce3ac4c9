namespace ProxySidecar.Caching;

/// <summary>What the cache does with a GET or HEAD.</summary>
internal enum CacheAction
{
    /// <summary>Not the cache's: forwarded as is (a Bypass rule, a GET or HEAD with a body).</summary>
    Bypass,

    /// <summary>Served from a fresh entry.</summary>
    Hit,

    /// <summary>Served from a stale entry the client accepts (max-stale).</summary>
    Stale,

    /// <summary>Served from a stale entry within stale-while-revalidate; a background refresh is started.</summary>
    StaleWhileRevalidate,

    /// <summary>Forwarded with the stored entry at hand: conditional when it has validators; a 304 freshens it.</summary>
    Revalidate,

    /// <summary>Forwarded with no entry to use.</summary>
    Forward,

    /// <summary>The client asked only-if-cached and nothing stored may answer: 504.</summary>
    OnlyIfCachedMiss,
}

/// <summary>The decision, with the <c>fwd</c> reason and whether concurrent requests may wait for one forward.</summary>
internal readonly record struct CacheDecision(CacheAction Action, ForwardReason Reason = ForwardReason.UriMiss, bool Coalesce = false, string? Detail = null);

/// <summary>What the decision needs to know, read once per request.</summary>
internal readonly record struct DecisionInput(
    bool RuleBypass,
    bool HasBody,
    bool RecordFound,
    bool EntryFound,
    bool MayServe,
    EntryView View,
    bool EntryNoCache,
    bool EntryMustRevalidate,
    long EntryStaleWhileRevalidateMs,
    CacheControl Directives,
    bool RequestNoCache,
    bool IsHead,
    bool MayCoalesce,
    bool HitForMiss);

/// <summary>
/// RFC 9111's choice for a shared cache, as a pure function of the request, the stored entry and the clock (in the
/// entry's <see cref="EntryView"/>), with the cache-safety rules in it: an entry that may not serve the request's
/// credentials is never used, and only requests that could have been served from the cache wait for another.
/// </summary>
internal static class CacheDecisions
{
    public static CacheDecision Decide(in DecisionInput input)
    {
        if (input.RuleBypass)
        {
            return new CacheDecision(CacheAction.Bypass, ForwardReason.Bypass);
        }

        if (input.HasBody)
        {
            // The app may answer by the body, which the key does not hold.
            return new CacheDecision(CacheAction.Bypass, ForwardReason.Request, Detail: "request-body");
        }

        var directives = input.Directives;
        if (input.EntryFound && !input.MayServe)
        {
            // The request carries credentials the entry did not allow: the app answers, on its own.
            return new CacheDecision(CacheAction.Forward, ForwardReason.Request);
        }

        if (!input.EntryFound)
        {
            if (directives.OnlyIfCached)
            {
                return new CacheDecision(CacheAction.OnlyIfCachedMiss);
            }

            return new CacheDecision(CacheAction.Forward, input.RecordFound ? ForwardReason.VaryMiss : ForwardReason.UriMiss, CanWait(input));
        }

        var view = input.View;
        if (!input.RequestNoCache && !input.EntryNoCache)
        {
            if (view.Fresh && (directives.MaxAge is not { } maxAge || view.AgeMs <= maxAge * 1000L)
                && (directives.MinFresh is not { } minFresh || view.LifetimeMs - view.AgeMs >= minFresh * 1000L))
            {
                return new CacheDecision(CacheAction.Hit);
            }

            if (!view.Fresh && !input.EntryMustRevalidate && directives.MaxStale is { } maxStale
                && view.StalenessMs <= maxStale * 1000L && (directives.MaxAge is not { } maxAge2 || view.AgeMs <= maxAge2 * 1000L))
            {
                return new CacheDecision(CacheAction.Stale, Detail: "max-stale");
            }

            if (!view.Fresh && !input.EntryMustRevalidate && input.EntryStaleWhileRevalidateMs >= 0 && view.StalenessMs < input.EntryStaleWhileRevalidateMs
                && directives.MaxAge is null && directives.MinFresh is null)
            {
                return new CacheDecision(CacheAction.StaleWhileRevalidate, Detail: "stale-while-revalidate");
            }
        }

        if (directives.OnlyIfCached)
        {
            return new CacheDecision(CacheAction.OnlyIfCachedMiss);
        }

        // fwd=request when only the client's directives (no-cache, max-age, min-fresh) refused a fresh entry.
        var reason = input.RequestNoCache || (view.Fresh && !input.EntryNoCache) ? ForwardReason.Request : ForwardReason.Stale;
        return new CacheDecision(CacheAction.Revalidate, reason, reason == ForwardReason.Stale && CanWait(input));
    }

    /// <summary>Concurrent requests wait for one forward only when none of them could be told apart by it.</summary>
    private static bool CanWait(in DecisionInput input) => !input.IsHead && input.MayCoalesce && !input.HitForMiss;
}

/// <summary>Age and freshness of an entry at one moment, a soft purge taken into account.</summary>
internal readonly record struct EntryView(long AgeMs, long LifetimeMs)
{
    public bool Fresh => AgeMs < LifetimeMs;

    public long StalenessMs => AgeMs - LifetimeMs;

    public long TtlMs => LifetimeMs - AgeMs;

    /// <summary>A soft purge at <paramref name="purgedAtMs"/> (after the entry was stored) ends its freshness then.</summary>
    public static EntryView Create(Stores.CacheEntry entry, long nowMs, long purgedAtMs)
    {
        var age = entry.AgeMs(nowMs);
        var lifetime = entry.LifetimeMs;
        if (purgedAtMs >= entry.ResponseTimeMs && purgedAtMs > 0)
        {
            lifetime = Math.Min(lifetime, entry.AgeMs(purgedAtMs));
        }

        return new EntryView(age, lifetime);
    }
}
