using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// The RFC 9111 shared cache in front of the forwarder: for each GET or HEAD it builds a
/// <see cref="CacheRequestContext"/>, reads the store (<see cref="CacheLookup"/>), takes the decision
/// (<see cref="CacheDecisions"/>) and carries it out: serve (<see cref="ResponseWriter"/>), or forward through the rest
/// of the pipeline — routing and YARP with their transforms and error handling — and store (<see cref="CacheForwarder"/>,
/// <see cref="EntryWriter"/>). Unsafe methods invalidate (<see cref="UnsafeMethodInvalidator"/>).
/// </summary>
internal sealed class HttpCacheMiddleware
{
    private readonly RequestDelegate _next;
    private readonly CachePolicyProvider _policies;
    private readonly CacheLookup _lookup;
    private readonly CacheForwarder _forwarder;
    private readonly EntryWriter _writer;
    private readonly UnsafeMethodInvalidator _invalidator;
    private readonly RequestCoalescer _coalescer;
    private readonly BackgroundRefresher _refresher;
    private readonly CacheMetrics _metrics;
    private readonly CacheClock _clock;
    private readonly EncodedRepresentations _encodings;

    public HttpCacheMiddleware(
        RequestDelegate next,
        CachePolicyProvider policies,
        HttpCacheStore store,
        RequestCoalescer coalescer,
        BackgroundRefresher refresher,
        CaptureBudget captureBudget,
        CacheMetrics metrics,
        CacheClock clock,
        EncodedRepresentations encodings)
    {
        _next = next;
        _policies = policies;
        _lookup = new CacheLookup(store);
        _forwarder = new CacheForwarder(next, captureBudget);
        _writer = new EntryWriter(store, coalescer, clock);
        _invalidator = new UnsafeMethodInvalidator(store);
        _coalescer = coalescer;
        _refresher = refresher;
        _metrics = metrics;
        _clock = clock;
        _encodings = encodings;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var policy = _policies.Current;
        if (!policy.Enabled)
        {
            return _next(context);
        }

        var method = context.Request.Method;
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method))
        {
            return ReadAsync(CacheRequestContext.Create(context, policy));
        }

        ResponseWriter.AppendOnStarting(context, CacheStatusText.Forwarded(policy.CacheStatusName, ForwardReason.Method));
        CacheResultRecorder.Record(context, _metrics, CacheResult.Bypass);
        return UnsafeMethodInvalidator.IsInvalidating(method) ? UnsafeAsync(context, policy) : _next(context);
    }

    private async Task UnsafeAsync(HttpContext context, CachePolicy policy)
    {
        await _next(context).ConfigureAwait(false);
        await _invalidator.InvalidateAsync(context, policy).ConfigureAwait(false);
    }

    private async Task ReadAsync(CacheRequestContext context)
    {
        if (context.Rule.Bypass || context.HasBody)
        {
            await BypassAsync(context, CacheDecisions.Decide(context.DecisionInput(hitForMiss: false))).ConfigureAwait(false);
            return;
        }

        await _lookup.LookupAsync(context).ConfigureAwait(false);
        var decision = CacheDecisions.Decide(context.DecisionInput(_coalescer.IsHitForMiss(context.Primary)));
        context.Decision = decision;
        var name = context.Policy.CacheStatusName;
        switch (decision.Action)
        {
            case CacheAction.Hit:
                await ServeAsync(context, CacheResult.Hit, CacheStatusText.Hit(name, context.View.TtlMs)).ConfigureAwait(false);
                return;

            case CacheAction.Stale:
                await ServeAsync(context, CacheResult.Stale, CacheStatusText.Hit(name, context.View.TtlMs, decision.Detail)).ConfigureAwait(false);
                return;

            case CacheAction.StaleWhileRevalidate:
            {
                var (policy, rule, stale) = (context.Policy, context.Rule, context.Entry!);
                _refresher.Schedule(context.Http, policy, stale, sub => RefreshAsync(sub, policy, rule, stale));
                await ServeAsync(context, CacheResult.Stale, CacheStatusText.Hit(name, context.View.TtlMs, decision.Detail)).ConfigureAwait(false);
                return;
            }

            case CacheAction.OnlyIfCachedMiss:
                CacheResultRecorder.Record(context.Http, _metrics, CacheResult.Miss);
                await ResponseWriter.GatewayTimeoutAsync(context.Http, name).ConfigureAwait(false);
                return;

            case CacheAction.Revalidate or CacheAction.Forward:
            {
                var stale = decision.Action == CacheAction.Revalidate ? context.Entry : null;
                if (decision.Coalesce)
                {
                    await CoalescedForwardAsync(context, stale, decision.Reason).ConfigureAwait(false);
                }
                else
                {
                    await ForwardAsync(context, stale, decision.Reason, flight: null).ConfigureAwait(false);
                }

                return;
            }

            default:
                await BypassAsync(context, decision).ConfigureAwait(false);
                return;
        }
    }

    private Task BypassAsync(CacheRequestContext context, CacheDecision decision)
    {
        CacheResultRecorder.Record(context.Http, _metrics, CacheResult.Bypass);
        ResponseWriter.AppendOnStarting(context.Http, CacheStatusText.Forwarded(context.Policy.CacheStatusName, decision.Reason, detail: decision.Detail));
        return _next(context.Http);
    }

    private Task ServeAsync(CacheRequestContext context, CacheResult result, string cacheStatus)
    {
        CacheResultRecorder.Record(context.Http, _metrics, result, context.Entry, context.View);
        return ResponseWriter.ServeAsync(context.Http, context.Entry!, context.View, cacheStatus, _encodings, context.Policy);
    }

    /// <summary>
    /// One request per key goes to the app (the leader); the others wait and are answered with its result only
    /// when it could have answered them from the cache (<see cref="CacheEntry.MayAnswerWaiters"/>, their
    /// credentials and Vary). Otherwise they all go to the app side by side, and the URL is remembered as
    /// uncacheable for a while (hit-for-miss) so that the next burst is not made to wait.
    /// </summary>
    private async Task CoalescedForwardAsync(CacheRequestContext context, CacheEntry? stale, ForwardReason reason)
    {
        var flight = _coalescer.Join(context.Primary, out var leader);
        if (leader)
        {
            CacheEntry? stored = null;
            try
            {
                stored = await ForwardAsync(context, stale, reason, flight).ConfigureAwait(false);
            }
            finally
            {
                var answerable = stored is not null && stored.MayAnswerWaiters(_clock.NowMs);
                if (!answerable)
                {
                    _coalescer.MarkHitForMiss(context.Primary, context.Policy.HitForMissDuration);
                }

                _coalescer.Complete(flight, answerable ? stored : null);
            }

            return;
        }

        CacheEntry? shared;
        try
        {
            shared = await flight.Result.Task.WaitAsync(context.Policy.CoalescingTimeout, context.Http.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            shared = null;
        }

        var now = _clock.NowMs;
        if (shared is not null && shared.MayAnswerWaiters(now) && shared.MayServe(context.Credentials)
            && (shared.VaryNames.Length == 0 || shared.VariantHash == CacheKey.VariantHash(shared.VaryNames, context.Request.Headers)))
        {
            var view = EntryView.Create(shared, now, 0);
            CacheResultRecorder.Record(context.Http, _metrics, CacheResult.Hit, shared, view);
            await ResponseWriter.ServeAsync(context.Http, shared, view, CacheStatusText.Hit(context.Policy.CacheStatusName, view.TtlMs, "coalesced"), _encodings, context.Policy).ConfigureAwait(false);
            return;
        }

        await ForwardAsync(context, stale, reason, flight: null).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the request to the app. With <paramref name="stale"/> it revalidates (conditional when the entry has
    /// validators) and may answer from the entry on a 304 or, within stale-if-error, on an error.
    /// Returns the entry it stored (for coalesced waiters).
    /// </summary>
    private async Task<CacheEntry?> ForwardAsync(CacheRequestContext context, CacheEntry? stale, ForwardReason reason, RequestCoalescer.Flight? flight)
    {
        var http = context.Http;
        var policy = context.Policy;
        var exchange = new UpstreamExchange(http, policy, context.Rule, context.Primary, context.Directives, context.Credentials, stale, reason, background: false, _clock, _coalescer);
        using var forwarded = await _forwarder.SendAsync(exchange).ConfigureAwait(false);
        var body = forwarded.Body;
        switch (exchange.Outcome)
        {
            case ExchangeOutcome.Revalidated:
            {
                var freshened = EntryWriter.Freshen(exchange);
                ResponseWriter.Reset(http);
                var view = EntryView.Create(freshened.Entry, _clock.NowMs, 0);
                CacheResultRecorder.Record(http, _metrics, CacheResult.Revalidated, freshened.Entry, view);
                var status = CacheStatusText.Forwarded(policy.CacheStatusName, reason, StatusCodes.Status304NotModified, freshened.Storable, freshened.Storable ? null : freshened.Detail);
                await ResponseWriter.ServeAsync(http, freshened.Entry, view, status, _encodings, policy).ConfigureAwait(false);
                if (!freshened.Storable)
                {
                    return null;
                }

                flight?.Result.TrySetResult(freshened.Entry);
                await ResponseWriter.CompleteAsync(http).ConfigureAwait(false);
                await _writer.WriteAsync(policy, freshened.Entry, freshened.Bytes, CancellationToken.None).ConfigureAwait(false);
                return freshened.Entry;
            }

            case ExchangeOutcome.StaleOnError:
            {
                ResponseWriter.Reset(http);
                var view = EntryView.Create(stale!, _clock.NowMs, 0);
                CacheResultRecorder.Record(http, _metrics, CacheResult.Stale, stale, view);
                await ResponseWriter.ServeAsync(http, stale!, view, CacheStatusText.Forwarded(policy.CacheStatusName, reason, exchange.UpstreamStatus, detail: exchange.StaleDetail), _encodings, policy).ConfigureAwait(false);
                return null;
            }

            case ExchangeOutcome.Store when !body.Overflowed && exchange.IsComplete(body):
            {
                var built = EntryWriter.Build(exchange, body.Captured);
                CacheResultRecorder.Record(http, _metrics, CacheResult.Miss, built.Entry, EntryView.Create(built.Entry, _clock.NowMs, 0));
                flight?.Result.TrySetResult(built.Entry);
                await ResponseWriter.CompleteAsync(http).ConfigureAwait(false);
                await _writer.WriteAsync(policy, built.Entry, built.Bytes, CancellationToken.None).ConfigureAwait(false);
                return built.Entry;
            }

            case ExchangeOutcome.HeadMatched:
            {
                CacheResultRecorder.Record(http, _metrics, CacheResult.Miss);
                var freshened = EntryWriter.Freshen(exchange);
                await ResponseWriter.CompleteAsync(http).ConfigureAwait(false);
                if (freshened.Storable)
                {
                    await _writer.WriteAsync(policy, freshened.Entry, freshened.Bytes, CancellationToken.None).ConfigureAwait(false);
                }

                return null;
            }

            case ExchangeOutcome.HeadChanged:
                CacheResultRecorder.Record(http, _metrics, CacheResult.Miss);
                await ResponseWriter.CompleteAsync(http).ConfigureAwait(false);
                await _invalidator.InvalidateUrlAsync(stale!.Primary).ConfigureAwait(false);
                return null;

            case ExchangeOutcome.Store:
                CacheResultRecorder.Record(http, _metrics, CacheResult.Miss);
                if (body.Overflowed)
                {
                    _coalescer.MarkHitForMiss(context.Primary, policy.HitForMissDuration);
                }

                return null;

            default:
                CacheResultRecorder.Record(http, _metrics, exchange.Outcome == ExchangeOutcome.Uncacheable ? CacheResult.Uncacheable : CacheResult.Miss);
                return null;
        }
    }

    /// <summary>
    /// A stale-while-revalidate refresh: the same forward path as a client request, on a context of its own, its
    /// response held back and stored. True when a refreshed entry was written to the store.
    /// </summary>
    private async Task<bool> RefreshAsync(HttpContext sub, CachePolicy policy, CompiledRule rule, CacheEntry stale)
    {
        var exchange = new UpstreamExchange(sub, policy, rule, stale.Primary, default, Credentials.Of(sub, rule), stale, ForwardReason.Stale, background: true, _clock, coalescer: null);
        using var forwarded = await _forwarder.SendAsync(exchange).ConfigureAwait(false);
        if (exchange.Outcome == ExchangeOutcome.Revalidated)
        {
            var freshened = EntryWriter.Freshen(exchange);
            return freshened.Storable && await _writer.WriteAsync(policy, freshened.Entry, freshened.Bytes, sub.RequestAborted).ConfigureAwait(false);
        }

        if (exchange.Outcome == ExchangeOutcome.Store && !forwarded.Body.Overflowed && exchange.IsComplete(forwarded.Body))
        {
            var built = EntryWriter.Build(exchange, forwarded.Body.Captured);
            return await _writer.WriteAsync(policy, built.Entry, built.Bytes, sub.RequestAborted).ConfigureAwait(false);
        }

        return false;
    }
}
