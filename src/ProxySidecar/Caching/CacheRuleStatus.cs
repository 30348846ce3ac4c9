using ProxySidecar.Admin;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching;

/// <summary>
/// The <c>cacheRules</c> section of /status: per rule name, what the cache did since start-up (hits, misses, stale
/// answers, revalidations, bypasses, uncacheable responses, stores and stored bytes) and the hit ratio of the last
/// <see cref="WindowMinutes"/> minutes; the same for all rules together. Every rule of the active table is listed,
/// with zeros until it sees a request.
/// </summary>
internal sealed class CacheRuleStatus(CacheMetrics metrics, CachePolicyProvider policies) : IStatusContributor
{
    public const int WindowMinutes = 15;

    public string Name => "cacheRules";

    public object GetStatus() => Build(WindowMinutes);

    public CacheRulesStatusBody Build(int minutes)
    {
        var seen = metrics.Rules.Snapshot(metrics.NowMs, minutes).ToDictionary(s => s.Rule, StringComparer.Ordinal);
        var empty = new ResultCounts(new long[Enum.GetValues<CacheResult>().Length]);
        var rows = new List<RuleFiguresSnapshot>();
        foreach (var name in policies.Current.Rules.Select(r => r.Name).Append(CompiledRule.None.Name).Distinct(StringComparer.Ordinal))
        {
            rows.Add(seen.Remove(name, out var snapshot) ? snapshot : new RuleFiguresSnapshot(name, empty, empty, 0, 0));
        }

        // Rules of an earlier table (or past the cap) that counted something stay visible.
        rows.AddRange(seen.Values.OrderBy(s => s.Rule, StringComparer.Ordinal));
        var overall = new RuleFiguresSnapshot(
            "(all)",
            ResultCounts.Sum(rows.Select(r => r.Totals)),
            ResultCounts.Sum(rows.Select(r => r.Recent)),
            rows.Sum(r => r.Stores),
            rows.Sum(r => r.StoredBytes));
        return new CacheRulesStatusBody(minutes, Body(overall), [.. rows.Select(Body)]);
    }

    private static RuleFiguresBody Body(RuleFiguresSnapshot s) => new(
        s.Rule,
        s.Totals[CacheResult.Hit],
        s.Totals[CacheResult.Miss],
        s.Totals[CacheResult.Stale],
        s.Totals[CacheResult.Revalidated],
        s.Totals[CacheResult.Bypass],
        s.Totals[CacheResult.Uncacheable],
        s.Stores,
        s.StoredBytes,
        s.Totals.HitRatio,
        new RecentFiguresBody(s.Recent.Cacheable, s.Recent.Hits, s.Recent.HitRatio));
}

internal sealed record CacheRulesStatusBody(int WindowMinutes, RuleFiguresBody Overall, RuleFiguresBody[] Rules);

internal sealed record RuleFiguresBody(
    string Rule,
    long Hits,
    long Misses,
    long Stale,
    long Revalidated,
    long Bypasses,
    long Uncacheable,
    long Stores,
    long StoredBytes,
    double? HitRatio,
    RecentFiguresBody Recent);

/// <summary>Lookups the cache could have answered (all but bypasses), those answered from the store, and their ratio.</summary>
internal sealed record RecentFiguresBody(long Lookups, long Hits, double? HitRatio);
