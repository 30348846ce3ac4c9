namespace ProxySidecar.Caching;

/// <summary>
/// The cache's clock: the host's <see cref="TimeProvider"/> unless replaced, so tests can move cache time
/// (freshness, age) without moving the timers of the rest of the sidecar.
/// </summary>
internal sealed class CacheClock(TimeProvider time)
{
    public TimeProvider Time { get; } = time;

    /// <summary>Now, as Unix milliseconds (the unit of every time the cache stores).</summary>
    public long NowMs => Time.GetUtcNow().ToUnixTimeMilliseconds();
}
