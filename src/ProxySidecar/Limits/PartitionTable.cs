using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace ProxySidecar.Limits;

/// <summary>
/// The clients one rate-limit rule keeps track of, each with its own limiter from System.Threading.RateLimiting
/// (<see cref="TokenBucketRateLimiter"/> or <see cref="SlidingWindowRateLimiter"/>, without timers of their own).
/// Bounded: at most <see cref="MaxPartitions"/> clients; a client that arrives while the table is full is counted
/// in one shared overflow partition with the rule's limits until room frees up. <see cref="Sweep"/> (run by
/// <see cref="LimitsPolicyProvider"/> on a heartbeat) advances sliding windows and drops every idle partition: a
/// full bucket or an empty window limits exactly as a new one would, so dropping it loses nothing.
/// ASP.NET's own <c>PartitionedRateLimiter.Create</c> also drops idle partitions, but only after they have been idle
/// for a while and without any bound on how many there are: a client with many addresses could grow it at will.
/// </summary>
internal sealed class PartitionTable
{
    private readonly ConcurrentDictionary<PartitionKey, RateLimiter> _partitions = new();
    private readonly RateLimitDefinition _definition;
    private readonly TokenBucketRateLimiterOptions? _bucket;
    private readonly SlidingWindowRateLimiterOptions? _window;
    private readonly RateLimiter _overflow;
    private int _count;
    private long _overflowed;
    private long _rejected;
    private long _overflowSeen;
    private bool _overflowing;

    public PartitionTable(RateLimitDefinition definition, int maxPartitions)
    {
        _definition = definition;
        MaxPartitions = maxPartitions;
        if (definition.Algorithm == RateLimitAlgorithm.TokenBucket)
        {
            _bucket = new TokenBucketRateLimiterOptions
            {
                TokenLimit = definition.PermitLimit,
                TokensPerPeriod = definition.TokensPerWindow,
                ReplenishmentPeriod = definition.Window,
                QueueLimit = 0,
                AutoReplenishment = false,
            };
        }
        else
        {
            _window = new SlidingWindowRateLimiterOptions
            {
                PermitLimit = definition.PermitLimit,
                Window = definition.Window,
                SegmentsPerWindow = definition.SegmentsPerWindow,
                QueueLimit = 0,
                AutoReplenishment = false,
            };
        }

        _overflow = Create();
    }

    public int MaxPartitions { get; }

    /// <summary>Clients tracked now (the overflow partition not included).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Requests counted in the overflow partition because the table was full.</summary>
    public long Overflowed => Interlocked.Read(ref _overflowed);

    /// <summary>Requests this rule refused (429).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>How long a rejected client should wait at least: the time until a sliding window's next segment.</summary>
    public TimeSpan Segment => _window is { } window ? window.Window / window.SegmentsPerWindow : _definition.Window;

    /// <summary>Takes one permit of <paramref name="key"/>'s limiter; never waits.</summary>
    public RateLimitLease Acquire(in PartitionKey key, int permits, out bool overflowed)
    {
        overflowed = false;
        if (!_partitions.TryGetValue(key, out var limiter))
        {
            limiter = Add(key, out overflowed);
        }

        // Tokens accrue by elapsed time when asked (a token bucket without its own timer); a window advances a segment.
        ((ReplenishingRateLimiter)limiter).TryReplenish();
        return limiter.AttemptAcquire(permits);
    }

    public void CountRejection() => Interlocked.Increment(ref _rejected);

    /// <summary>Advances every sliding window by the time passed and drops the partitions that are idle.</summary>
    public void Sweep()
    {
        foreach (var (key, limiter) in _partitions)
        {
            ((ReplenishingRateLimiter)limiter).TryReplenish();

            // Not disposed: a request may hold it for a moment after it leaves the table (it then counts against a
            // limiter that is gone, costing at most one request's worth of a bucket that was full anyway).
            if (limiter.IdleDuration is not null && _partitions.TryRemove(new KeyValuePair<PartitionKey, RateLimiter>(key, limiter)))
            {
                Interlocked.Decrement(ref _count);
            }
        }

        ((ReplenishingRateLimiter)_overflow).TryReplenish();
    }

    /// <summary>
    /// True once when requests began going to the overflow partition since the last call (the heartbeat asks);
    /// false again after a beat without any.
    /// </summary>
    public bool BeganOverflowing()
    {
        var overflowed = Overflowed;
        var now = overflowed > _overflowSeen;
        _overflowSeen = overflowed;
        var began = now && !_overflowing;
        _overflowing = now;
        return began;
    }

    private RateLimiter Add(in PartitionKey key, out bool overflowed)
    {
        // The slot is reserved before the insert, so the table never holds more than MaxPartitions, even under a race.
        if (Interlocked.Increment(ref _count) > MaxPartitions)
        {
            Interlocked.Decrement(ref _count);
            Interlocked.Increment(ref _overflowed);
            overflowed = true;
            return _overflow;
        }

        overflowed = false;
        var created = Create();
        var actual = _partitions.GetOrAdd(key, created);
        if (!ReferenceEquals(actual, created))
        {
            Interlocked.Decrement(ref _count);
            created.Dispose();
        }

        return actual;
    }

    private ReplenishingRateLimiter Create() =>
        _bucket is not null ? new TokenBucketRateLimiter(_bucket) : new SlidingWindowRateLimiter(_window!);
}
