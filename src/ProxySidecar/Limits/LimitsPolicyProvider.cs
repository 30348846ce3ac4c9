using Microsoft.Extensions.Options;

namespace ProxySidecar.Limits;

/// <summary>
/// Compiles <c>Sidecar:Limits</c> into a <see cref="LimitsPolicy"/> and swaps it on every reload that validates.
/// The options are bound and validated by the options system: the first load fails start-up naming every bad key;
/// a later change that does not validate never reaches <see cref="IOptionsMonitor{TOptions}.OnChange"/> (the
/// configuration file rejects the change as a whole, event 12) and the last good policy, tables included, stays.
/// Also runs the partition tables' heartbeat (<see cref="PartitionTable.Sweep"/>).
/// </summary>
internal sealed class LimitsPolicyProvider : IDisposable
{
    /// <summary>The fastest beat (as ASP.NET's own partitioned limiter's): sliding windows of 0.1 s segments advance on it.</summary>
    internal static readonly TimeSpan FastestHeartbeat = TimeSpan.FromMilliseconds(100);

    /// <summary>The slowest beat. Token buckets refill when asked; their tables are only swept of idle partitions, this often.</summary>
    internal static readonly TimeSpan SlowestHeartbeat = TimeSpan.FromSeconds(1);

    private readonly ILogger<LimitsPolicyProvider> _logger;
    private readonly TimeProvider _time;
    private readonly IDisposable? _subscription;
    private readonly ITimer _heartbeat;
    private readonly Lock _reloading = new();
    private LimitsPolicy _current;
    private TimeSpan _period = Timeout.InfiniteTimeSpan;
    private int _beating;

    public LimitsPolicyProvider(IOptionsMonitor<LimitsOptions> options, TimeProvider time, LimitsMetrics metrics, ILogger<LimitsPolicyProvider> logger)
    {
        _logger = logger;
        _time = time;
        _current = LimitsPolicy.Compile(options.CurrentValue, previous: null);
        metrics.Observe(() => Current);
        _heartbeat = time.CreateTimer(_ => Heartbeat(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        Schedule(_current);
        _subscription = options.OnChange((value, name) =>
        {
            if (name == Options.DefaultName)
            {
                Reload(value);
            }
        });
    }

    /// <summary>The live policy; one volatile read.</summary>
    public LimitsPolicy Current => Volatile.Read(ref _current);

    /// <summary>When the limits last changed (null: as at start).</summary>
    public DateTimeOffset? LastReload { get; private set; }

    public void Dispose()
    {
        _subscription?.Dispose();
        _heartbeat.Dispose();
    }

    internal void Reload(LimitsOptions options)
    {
        lock (_reloading)
        {
            var previous = Current;
            var next = LimitsPolicy.Compile(options, previous);
            if (next.SameSettingsAs(previous))
            {
                return;
            }

            Volatile.Write(ref _current, next);
            LastReload = _time.GetUtcNow();
            Schedule(next);
            LimitsLog.Reloaded(
                _logger,
                next.Rules.Length,
                next.App?.Gate.MaxConcurrentRequests.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none",
                next.MaxConnectionsPerClient?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");
        }
    }

    /// <summary>One beat: every table of the live policy is swept; a table that began to overflow is logged once.</summary>
    internal void Heartbeat()
    {
        // Timer callbacks may overlap when a beat runs long: one beat at a time, a late one is skipped.
        if (Interlocked.Exchange(ref _beating, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (var rule in Current.Rules)
            {
                rule.Table.Sweep();
                if (rule.Table.BeganOverflowing())
                {
                    LimitsLog.TableFull(_logger, rule.Name, rule.Table.MaxPartitions);
                }
            }
        }
        catch (Exception error)
        {
            LimitsLog.HeartbeatFailed(_logger, error);
        }
        finally
        {
            Volatile.Write(ref _beating, 0);
        }
    }

    /// <summary>
    /// How often a rule's table is swept: a sliding window advances one segment on the first beat after a segment's
    /// time has passed, so beats a tenth of a segment apart (0.1 s to 1 s; segments are at least a second) keep a
    /// segment at most a tenth longer than it should be. A sweep costs about 0.4 µs per client tracked.
    /// </summary>
    internal static TimeSpan BeatFor(RateLimitDefinition rule) =>
        rule.Algorithm == RateLimitAlgorithm.SlidingWindow
            ? TimeSpan.FromTicks(Math.Clamp(rule.Window.Ticks / rule.SegmentsPerWindow / 10, FastestHeartbeat.Ticks, SlowestHeartbeat.Ticks))
            : SlowestHeartbeat;

    private void Schedule(LimitsPolicy policy)
    {
        var period = !policy.HasRules ? Timeout.InfiniteTimeSpan : policy.Rules.Min(r => BeatFor(r.Definition));
        if (period != _period)
        {
            _period = period;
            _heartbeat.Change(period, period);
        }
    }
}
