using System.Collections.Concurrent;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// Concurrent misses on one primary key: the first becomes the leader and goes to the app; the others
/// wait for the entry it stores. A URL found uncacheable is remembered for a while (hit-for-miss) so
/// its requests are not serialised behind one another.
/// </summary>
internal sealed class RequestCoalescer(CacheClock clock)
{
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _hitForMiss = new(StringComparer.Ordinal);

    /// <summary>At most this many URLs are remembered as uncacheable (forgetting one only lets its requests coalesce again).</summary>
    internal const int MaxRemembered = 10_000;

    public int InFlight => _flights.Count;

    internal int RememberedUncacheable => _hitForMiss.Count;

    /// <summary>Requests waiting for a leader, over all keys.</summary>
    public int Waiting => _flights.Values.Sum(f => f.Waiters);

    /// <summary>Joins the flight for <paramref name="key"/>; <paramref name="leader"/> is true for the one that must forward.</summary>
    public Flight Join(string key, out bool leader)
    {
        var created = new Flight(key);
        var flight = _flights.GetOrAdd(key, created);
        leader = ReferenceEquals(flight, created);
        if (!leader)
        {
            Interlocked.Increment(ref flight.WaitersField);
        }

        return flight;
    }

    /// <summary>Ends the flight: waiters get <paramref name="entry"/> (null: forward on your own).</summary>
    public void Complete(Flight flight, CacheEntry? entry)
    {
        _flights.TryRemove(new KeyValuePair<string, Flight>(flight.Key, flight));
        flight.Result.TrySetResult(entry);
    }

    public bool IsHitForMiss(string key)
    {
        if (!_hitForMiss.TryGetValue(key, out var until))
        {
            return false;
        }

        if (until > clock.Time.GetUtcNow().ToUnixTimeMilliseconds())
        {
            return true;
        }

        _hitForMiss.TryRemove(key, out _);
        return false;
    }

    public void MarkHitForMiss(string key, TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return;
        }

        // Bounded: marking happens on uncacheable responses, not on every request, so counting here is cheap.
        if (_hitForMiss.Count >= MaxRemembered)
        {
            var now = clock.Time.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (var (known, until) in _hitForMiss)
            {
                if (until <= now)
                {
                    _hitForMiss.TryRemove(new KeyValuePair<string, long>(known, until));
                }
            }

            if (_hitForMiss.Count >= MaxRemembered)
            {
                _hitForMiss.Clear();
            }
        }

        _hitForMiss[key] = clock.Time.GetUtcNow().ToUnixTimeMilliseconds() + (long)duration.TotalMilliseconds;
    }

    public void ClearHitForMiss(string key) => _hitForMiss.TryRemove(key, out _);

    internal sealed class Flight(string key)
    {
        internal int WaitersField;

        public string Key { get; } = key;

        public int Waiters => Volatile.Read(ref WaitersField);

        public TaskCompletionSource<CacheEntry?> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
