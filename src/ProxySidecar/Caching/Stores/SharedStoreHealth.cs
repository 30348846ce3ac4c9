using Polly.CircuitBreaker;

namespace ProxySidecar.Caching.Stores;

/// <summary>What went wrong with the shared store and when; read by /status and the metrics.</summary>
internal sealed class SharedStoreHealth(TimeProvider timeProvider)
{
    private readonly object _gate = new();
    private long _getErrors;
    private long _setErrors;
    private long _evictErrors;
    private long _skipped;
    private StoreError? _lastError;

    /// <summary>Set by the breaker decorator once its pipeline exists.</summary>
    public CircuitBreakerStateProvider? Breaker { get; set; }

    public event Action<string>? ErrorRecorded;

    public CircuitState BreakerState => Breaker?.CircuitState ?? CircuitState.Closed;

    public long Skipped => Interlocked.Read(ref _skipped);

    public StoreError? LastError
    {
        get
        {
            lock (_gate)
            {
                return _lastError;
            }
        }
    }

    public long Errors(string operation) => operation switch
    {
        StoreOperations.Get => Interlocked.Read(ref _getErrors),
        StoreOperations.Set => Interlocked.Read(ref _setErrors),
        _ => Interlocked.Read(ref _evictErrors),
    };

    public void RecordError(string operation, Exception error)
    {
        _ = operation switch
        {
            StoreOperations.Get => Interlocked.Increment(ref _getErrors),
            StoreOperations.Set => Interlocked.Increment(ref _setErrors),
            _ => Interlocked.Increment(ref _evictErrors),
        };
        var message = error switch
        {
            Polly.Timeout.TimeoutRejectedException => $"timed out ({error.Message})",
            _ => $"{error.GetType().Name}: {error.Message}",
        };
        lock (_gate)
        {
            _lastError = new StoreError(timeProvider.GetUtcNow(), operation, message);
        }

        ErrorRecorded?.Invoke(operation);
    }

    public void RecordSkipped() => Interlocked.Increment(ref _skipped);

    /// <summary>0 closed, 1 half-open, 2 open (isolated counts as open).</summary>
    public int BreakerGaugeValue => BreakerState switch
    {
        CircuitState.Closed => 0,
        CircuitState.HalfOpen => 1,
        _ => 2,
    };

    public static string Describe(CircuitState state) => state switch
    {
        CircuitState.Closed => "closed",
        CircuitState.HalfOpen => "half-open",
        CircuitState.Open => "open",
        _ => "isolated",
    };
}

internal sealed record StoreError(DateTimeOffset At, string Operation, string Message);

/// <summary>Names of store operations, as used in the <c>operation</c> metric tag.</summary>
internal static class StoreOperations
{
    public const string Get = "get";
    public const string Set = "set";
    public const string Evict = "evict";
}
