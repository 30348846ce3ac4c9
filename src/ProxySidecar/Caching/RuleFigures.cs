using System.Collections.Concurrent;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching;

/// <summary>
/// What the cache did for one rule: totals since start-up by <see cref="CacheResult"/>, responses and bytes written
/// to the store, and a ring of per-minute lookup counts for the hit ratio of the last minutes. Updates are
/// lock-free increments; a minute's slot is reset under a lock the first time the minute is seen.
/// </summary>
internal sealed class RuleFigures
{
    /// <summary>Minutes the ring keeps: the current one and the fifteen before it.</summary>
    public const int RingMinutes = 16;

    private static readonly int ResultCount = Enum.GetValues<CacheResult>().Length;

    private readonly long[] _totals = new long[ResultCount];
    private readonly MinuteSlot[] _ring = new MinuteSlot[RingMinutes];
    private long _stores;
    private long _storedBytes;

    public RuleFigures(string rule)
    {
        Rule = rule;
        for (var i = 0; i < _ring.Length; i++)
        {
            _ring[i] = new MinuteSlot(ResultCount);
        }
    }

    public string Rule { get; }

    public void Count(CacheResult result, long nowMs)
    {
        Interlocked.Increment(ref _totals[(int)result]);
        var minute = nowMs / 60_000;
        var slot = _ring[(int)(minute % RingMinutes)];
        if (Volatile.Read(ref slot.Minute) != minute)
        {
            slot.Reset(minute);
        }

        Interlocked.Increment(ref slot.Counts[(int)result]);
    }

    public void Stored(long bytes)
    {
        Interlocked.Increment(ref _stores);
        Interlocked.Add(ref _storedBytes, bytes);
    }

    /// <summary>The totals, and the lookups of the current minute and the <paramref name="minutes"/> − 1 before it.</summary>
    public RuleFiguresSnapshot Snapshot(long nowMs, int minutes)
    {
        var totals = new long[ResultCount];
        for (var i = 0; i < totals.Length; i++)
        {
            totals[i] = Volatile.Read(ref _totals[i]);
        }

        return new RuleFiguresSnapshot(Rule, new ResultCounts(totals), Recent(nowMs, minutes), Volatile.Read(ref _stores), Volatile.Read(ref _storedBytes));
    }

    private ResultCounts Recent(long nowMs, int minutes)
    {
        minutes = Math.Clamp(minutes, 1, RingMinutes);
        var current = nowMs / 60_000;
        var sums = new long[ResultCount];
        foreach (var slot in _ring)
        {
            var minute = Volatile.Read(ref slot.Minute);
            if (minute > current - minutes && minute <= current)
            {
                for (var i = 0; i < sums.Length; i++)
                {
                    sums[i] += Volatile.Read(ref slot.Counts[i]);
                }
            }
        }

        return new ResultCounts(sums);
    }

    private sealed class MinuteSlot(int results)
    {
        private readonly object _gate = new();
        public long Minute = -1;
        public readonly long[] Counts = new long[results];

        public void Reset(long minute)
        {
            lock (_gate)
            {
                if (Minute == minute)
                {
                    return;
                }

                // A count made in the instant between the check and this reset may be lost: figures, not accounts.
                Array.Clear(Counts);
                Volatile.Write(ref Minute, minute);
            }
        }
    }
}

/// <summary>Lookups by result.</summary>
internal readonly record struct ResultCounts(long[] ByResult)
{
    public long this[CacheResult result] => ByResult[(int)result];

    /// <summary>Answered from a stored response without the app sending a body: fresh hits and stale answers.</summary>
    public long Hits => this[CacheResult.Hit] + this[CacheResult.Stale];

    /// <summary>Lookups the cache could have answered: everything but bypasses.</summary>
    public long Cacheable => ByResult.Sum() - this[CacheResult.Bypass];

    /// <summary><see cref="Hits"/> over <see cref="Cacheable"/>; null without any.</summary>
    public double? HitRatio => Cacheable == 0 ? null : Math.Round((double)Hits / Cacheable, 4);

    public static ResultCounts Sum(IEnumerable<ResultCounts> counts)
    {
        var sums = new long[Enum.GetValues<CacheResult>().Length];
        foreach (var count in counts)
        {
            for (var i = 0; i < sums.Length; i++)
            {
                sums[i] += count.ByResult[i];
            }
        }

        return new ResultCounts(sums);
    }
}

internal sealed record RuleFiguresSnapshot(string Rule, ResultCounts Totals, ResultCounts Recent, long Stores, long StoredBytes);

/// <summary>
/// The figures of every rule seen, by name. Names come from the rule table (and <see cref="CompiledRule.None"/>);
/// at most <see cref="MaxRules"/> are kept, later ones are counted under <see cref="OtherRules"/>, so a
/// configuration reloaded many times with new names cannot grow this without bound.
/// </summary>
internal sealed class RuleFiguresTable
{
    public const int MaxRules = 256;

    public const string OtherRules = "(other)";

    private readonly ConcurrentDictionary<string, RuleFigures> _byRule = new(StringComparer.Ordinal);

    public RuleFigures For(string rule)
    {
        if (_byRule.TryGetValue(rule, out var figures))
        {
            return figures;
        }

        if (_byRule.Count >= MaxRules)
        {
            rule = OtherRules;
        }

        return _byRule.GetOrAdd(rule, static name => new RuleFigures(name));
    }

    /// <summary>The label a figure of <paramref name="rule"/> is counted under (the rule's name, or <see cref="OtherRules"/> past the cap).</summary>
    public string Label(string rule) => For(rule).Rule;

    public IReadOnlyList<RuleFiguresSnapshot> Snapshot(long nowMs, int minutes) =>
        [.. _byRule.Values.Select(f => f.Snapshot(nowMs, minutes)).OrderBy(s => s.Rule, StringComparer.Ordinal)];
}
