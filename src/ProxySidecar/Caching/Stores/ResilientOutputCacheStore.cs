using Microsoft.AspNetCore.OutputCaching;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// Puts a circuit breaker and a hard per-call deadline in front of a store that can fail or hang (Redis),
/// so the store never fails a request and never adds more than one operation timeout to it:
/// reads that fail, time out or meet an open breaker are misses; writes of entries run in the background
/// and are dropped while the breaker is open; invalidations after unsafe requests go through the breaker
/// too and report failure as false; purges (evictions and untagged records such as soft-purge markers)
/// always try the store within <see cref="RedisStoreOptions.PurgeTimeout"/> and throw
/// <see cref="SharedStoreUnavailableException"/> when it fails. This layer owns the store's deadlines.
/// </summary>
internal sealed partial class ResilientOutputCacheStore : IOutputCacheStore, ISharedCacheInvalidation
{
    /// <summary>Writes waiting for the store beyond this many are dropped, so a slow store cannot pile up memory.</summary>
    internal const int MaxPendingWrites = 1024;

    private static readonly ResiliencePropertyKey<TimeSpan> TimeoutKey = new("ProxySidecar.StoreTimeout");

    private readonly IOutputCacheStore _inner;
    private readonly TimeSpan _operationTimeout;
    private readonly TimeSpan _purgeTimeout;
    private readonly ResiliencePipeline _guarded;
    private readonly ResiliencePipeline _purges;
    private readonly SharedStoreHealth _health;
    private readonly ILogger _logger;
    private int _pendingWrites;

    public ResilientOutputCacheStore(
        IOutputCacheStore inner,
        RedisStoreOptions options,
        SharedStoreHealth health,
        TimeProvider timeProvider,
        ILogger<ResilientOutputCacheStore> logger)
    {
        _inner = inner;
        _health = health;
        _logger = logger;
        _operationTimeout = options.OperationTimeout;
        _purgeTimeout = options.PurgeTimeout;
        var breakerState = new CircuitBreakerStateProvider();
        health.Breaker = breakerState;

        var timeout = new TimeoutStrategyOptions
        {
            TimeoutGenerator = static args => ValueTask.FromResult(args.Context.Properties.GetValue(TimeoutKey, TimeSpan.FromMilliseconds(250))),
        };
        _guarded = new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.Breaker.FailureRatio,
                MinimumThroughput = options.Breaker.MinimumThroughput,
                SamplingDuration = options.Breaker.SamplingDuration,
                BreakDuration = options.Breaker.BreakDuration,
                StateProvider = breakerState,

                // Failures open the breaker; a connection still being set up is no failure (it is just skipped).
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is { } e && e is not OperationCanceledException && e is not SharedStoreNotReadyException),
                OnOpened = args =>
                {
                    Log.BreakerOpened(_logger, args.BreakDuration, args.Outcome.Exception?.Message ?? "failures");
                    return default;
                },
                OnHalfOpened = _ =>
                {
                    Log.BreakerHalfOpened(_logger);
                    return default;
                },
                OnClosed = _ =>
                {
                    Log.BreakerClosed(_logger);
                    return default;
                },
            })
            .AddTimeout(timeout)
            .Build();

        // Purges are rare operator actions: they always try the store (even while the breaker is open),
        // bounded by their own, longer deadline.
        _purges = new ResiliencePipelineBuilder { TimeProvider = timeProvider }.AddTimeout(timeout).Build();
    }

    /// <summary>Writes started and not yet finished (for tests and status).</summary>
    public int PendingWrites => Volatile.Read(ref _pendingWrites);

    public async ValueTask<byte[]?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var outcome = await RunAsync(_guarded, _operationTimeout, key, static (store, k, ct) => store.GetAsync(k, ct), cancellationToken).ConfigureAwait(false);
        if (outcome.Exception is { } error)
        {
            Observe(StoreOperations.Get, error, cancellationToken);
            return null;
        }

        return outcome.Result;
    }

    public ValueTask SetAsync(string key, byte[] value, string[]? tags, TimeSpan validFor, CancellationToken cancellationToken)
    {
        // Records without tags are the cache's control data (soft-purge markers), written by a purge: the
        // purge must know whether it reached the store, so these are awaited (like evictions) and fail loudly.
        if (tags is null || tags.Length == 0)
        {
            return WriteControlRecordAsync(key, value, validFor, cancellationToken);
        }

        if (Interlocked.Increment(ref _pendingWrites) > MaxPendingWrites)
        {
            Interlocked.Decrement(ref _pendingWrites);
            _health.RecordSkipped();
            return default;
        }

        // Never awaited by the response path: the write finishes (or fails, or is skipped) on its own.
        _ = Task.Run(() => WriteAsync(key, value, tags, validFor), CancellationToken.None);
        return default;
    }

    public async ValueTask EvictByTagAsync(string tag, CancellationToken cancellationToken)
    {
        var outcome = await RunAsync(
            _purges,
            _purgeTimeout,
            tag,
            static async (store, t, ct) =>
            {
                await store.EvictByTagAsync(t, ct).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
        if (outcome.Exception is { } error)
        {
            Observe(StoreOperations.Evict, error, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            throw new SharedStoreUnavailableException($"could not evict tag \"{tag}\", {Describe(error)}", error);
        }
    }

    /// <summary>
    /// Evicts <paramref name="tag"/> the way a request may: through the breaker, within the operation timeout.
    /// While the breaker is open the store is not tried at all. A failure (including an open breaker) is
    /// counted as an eviction error, logged, and reported as false; it never throws, except for the caller's cancellation.
    /// </summary>
    public async ValueTask<bool> InvalidateTagAsync(string tag, CancellationToken cancellationToken)
    {
        var outcome = await RunAsync(
            _guarded,
            _operationTimeout,
            tag,
            static async (store, t, ct) =>
            {
                await store.EvictByTagAsync(t, ct).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
        if (outcome.Exception is not { } error)
        {
            return true;
        }

        cancellationToken.ThrowIfCancellationRequested();

        // Unlike a skipped read or write, a skipped invalidation leaves a stale entry behind: always an error.
        _health.RecordError(StoreOperations.Evict, error);
        Log.InvalidationFailed(_logger, tag, Describe(error));
        return false;
    }

    private async ValueTask WriteControlRecordAsync(string key, byte[] value, TimeSpan validFor, CancellationToken cancellationToken)
    {
        var outcome = await RunAsync(_purges, _purgeTimeout, (key, value, validFor), SetUntagged, cancellationToken).ConfigureAwait(false);
        if (outcome.Exception is { } error)
        {
            Observe(StoreOperations.Set, error, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            throw new SharedStoreUnavailableException($"could not write \"{key}\", {Describe(error)}", error);
        }
    }

    private async Task WriteAsync(string key, byte[] value, string[]? tags, TimeSpan validFor)
    {
        try
        {
            var outcome = await RunAsync(_guarded, _operationTimeout, (key, value, tags, validFor), SetTagged, CancellationToken.None).ConfigureAwait(false);
            if (outcome.Exception is { } error)
            {
                Observe(StoreOperations.Set, error, CancellationToken.None);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _pendingWrites);
        }
    }

    private static async ValueTask<bool> SetUntagged(IOutputCacheStore store, (string Key, byte[] Value, TimeSpan ValidFor) write, CancellationToken cancellationToken)
    {
        await store.SetAsync(write.Key, write.Value, null, write.ValidFor, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static async ValueTask<bool> SetTagged(IOutputCacheStore store, (string Key, byte[] Value, string[]? Tags, TimeSpan ValidFor) write, CancellationToken cancellationToken)
    {
        await store.SetAsync(write.Key, write.Value, write.Tags, write.ValidFor, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Runs one store call through <paramref name="pipeline"/> with <paramref name="timeout"/> as its deadline;
    /// every failure (including the breaker's and the deadline's) comes back as the outcome, never thrown.
    /// </summary>
    private async ValueTask<Outcome<T>> RunAsync<TState, T>(
        ResiliencePipeline pipeline,
        TimeSpan timeout,
        TState state,
        Func<IOutputCacheStore, TState, CancellationToken, ValueTask<T>> operation,
        CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(TimeoutKey, timeout);
        try
        {
            return await pipeline.ExecuteOutcomeAsync(
                static async (ctx, s) =>
                {
                    try
                    {
                        return Outcome.FromResult(await Bounded(s.operation(s.Inner, s.state, ctx.CancellationToken), ctx.CancellationToken).ConfigureAwait(false));
                    }
                    catch (Exception ex)
                    {
                        return Outcome.FromException<T>(ex);
                    }
                },
                context,
                (Inner: _inner, state, operation)).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private void Observe(string operation, Exception error, CancellationToken callerToken)
    {
        if (error is BrokenCircuitException or SharedStoreNotReadyException)
        {
            _health.RecordSkipped();
            return;
        }

        if (error is OperationCanceledException && callerToken.IsCancellationRequested)
        {
            return;
        }

        _health.RecordError(operation, error);
        Log.StoreFailed(_logger, operation, Describe(error));
    }

    private static string Describe(Exception error) => error switch
    {
        TimeoutRejectedException t => $"no answer within {t.Timeout.TotalMilliseconds:0} ms",
        BrokenCircuitException => "the circuit breaker is open",
        SharedStoreNotReadyException => "still connecting",
        _ => error.Message,
    };

    /// <summary>
    /// Waits for the store at most until <paramref name="token"/> fires, whether or not the store itself
    /// honours the token (Redis commands do not); a late failure of the abandoned call is observed.
    /// </summary>
    private static async ValueTask<T> Bounded<T>(ValueTask<T> operation, CancellationToken token)
    {
        if (operation.IsCompleted)
        {
            return await operation.ConfigureAwait(false);
        }

        var task = operation.AsTask();
        try
        {
            return await task.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested && !task.IsCompleted)
        {
            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(501, LogLevel.Debug, "Shared cache store {Operation} failed; served as a miss: {Reason}")]
        public static partial void StoreFailed(ILogger logger, string operation, string reason);

        [LoggerMessage(502, LogLevel.Warning, "Shared cache store is failing; skipping it for {BreakDuration} (reads miss, writes are dropped). Last failure: {Reason}")]
        public static partial void BreakerOpened(ILogger logger, TimeSpan breakDuration, string reason);

        [LoggerMessage(503, LogLevel.Information, "Shared cache store: probing it again.")]
        public static partial void BreakerHalfOpened(ILogger logger);

        [LoggerMessage(504, LogLevel.Information, "Shared cache store answers again; using it.")]
        public static partial void BreakerClosed(ILogger logger);

        [LoggerMessage(505, LogLevel.Warning, "Invalidation of tag {Tag} after a successful unsafe request did not reach the shared store ({Reason}); an entry stored there stays until its freshness ends.")]
        public static partial void InvalidationFailed(ILogger logger, string tag, string reason);
    }
}

/// <summary>The store's connection is still being set up: the call is skipped (a miss), not counted as a failure.</summary>
internal sealed class SharedStoreNotReadyException : Exception
{
    public SharedStoreNotReadyException()
    {
    }

    public SharedStoreNotReadyException(string message)
        : base(message)
    {
    }

    public SharedStoreNotReadyException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// A store that can evict a tag on a request's behalf without holding the request up when it fails
/// (unlike <see cref="IOutputCacheStore.EvictByTagAsync"/>, which purges use and which must report failure).
/// </summary>
internal interface ISharedCacheInvalidation
{
    /// <summary>True when the eviction reached the store; false (already logged and counted) when it did not.</summary>
    ValueTask<bool> InvalidateTagAsync(string tag, CancellationToken cancellationToken);
}

/// <summary>The shared store could not carry out an operation the caller must know about (a purge).</summary>
internal sealed class SharedStoreUnavailableException : Exception
{
    public SharedStoreUnavailableException()
    {
    }

    public SharedStoreUnavailableException(string message)
        : base(message)
    {
    }

    public SharedStoreUnavailableException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
