using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Caching;

/// <summary>
/// The RFC 9111 shared cache in front of the forwarder. Lookups and stores go through
/// <see cref="HttpCacheStore"/>; everything that must reach the app (misses, revalidations, background
/// refreshes) goes through <c>_next</c>, i.e. routing and YARP with their transforms and error handling.
/// </summary>
internal sealed partial class HttpCacheMiddleware
{
    private const string CacheStatusHeader = "Cache-Status";

    private readonly RequestDelegate _next;
    private readonly CachePolicyProvider _policies;
    private readonly HttpCacheStore _store;
    private readonly RequestCoalescer _coalescer;
    private readonly CacheMetrics _metrics;
    private readonly BackgroundRefresher _refresher;
    private readonly ILogger<HttpCacheMiddleware> _logger;

    public HttpCacheMiddleware(
        RequestDelegate next,
        CachePolicyProvider policies,
        HttpCacheStore store,
        RequestCoalescer coalescer,
        CacheMetrics metrics,
        BackgroundRefresher refresher,
        ILogger<HttpCacheMiddleware> logger)
    {
        _next = next;
        _policies = policies;
        _store = store;
        _coalescer = coalescer;
        _metrics = metrics;
        _refresher = refresher;
        _logger = logger;
        refresher.Attach(this);
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
            return ReadAsync(context, policy);
        }

        AppendOnStarting(context, policy.CacheStatusName + "; fwd=method");
        if (HttpMethods.IsPost(method) || HttpMethods.IsPut(method) || HttpMethods.IsPatch(method) || HttpMethods.IsDelete(method))
        {
            return UnsafeAsync(context, policy);
        }

        SetResult(context, "bypass", null);
        return _next(context);
    }

    private async Task ReadAsync(HttpContext context, CachePolicy policy)
    {
        var request = context.Request;
        var rule = policy.Match(request.Method, request.Path.Value ?? "/");
        if (rule.Bypass)
        {
            SetResult(context, "bypass", null);
            AppendOnStarting(context, policy.CacheStatusName + "; fwd=bypass");
            await _next(context).ConfigureAwait(false);
            return;
        }

        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: true })
        {
            // A GET or HEAD with a body: the app may answer by the body, which the key does not hold.
            SetResult(context, "bypass", null);
            AppendOnStarting(context, policy.CacheStatusName + "; fwd=request; detail=request-body");
            await _next(context).ConfigureAwait(false);
            return;
        }

        var credentials = Credentials.Of(context, rule);
        var directives = rule.IgnoreClientCacheControl ? default : CacheControl.Parse(request.Headers.CacheControl);
        var noCache = directives.NoCache || (!rule.IgnoreClientCacheControl && !directives.Present && CacheControl.PragmaNoCache(request.Headers.Pragma));
        var primary = CacheKey.Primary(request, rule);
        var aborted = context.RequestAborted;

        // Look up: the primary record is either the entry or the Vary names of the URL's variants.
        var record = await _store.GetAsync(primary, null, aborted).ConfigureAwait(false);
        var entry = record;
        if (record is { Kind: RecordKind.Vary })
        {
            var variant = CacheKey.VariantHash(record.VaryNames, request.Headers);
            entry = await _store.GetAsync(primary, variant, aborted).ConfigureAwait(false);
        }

        if (entry is not null && entry.ResponseTimeMs <= await _store.LatestMarkerAsync(entry.EvictedMarkerKeys, aborted).ConfigureAwait(false))
        {
            // Hard-purged: stored after the eviction from a response that arrived before the purge.
            if (ReferenceEquals(record, entry))
            {
                record = null;
            }

            entry = null;
        }

        if (entry is not null && !entry.MayServe(credentials))
        {
            // The request carries credentials and the entry was not explicitly shareable: the app answers it (not coalesced).
            await ForwardAsync(context, policy, rule, primary, directives, credentials, null, "request", coalesced: null).ConfigureAwait(false);
            return;
        }

        if (entry is not null)
        {
            var now = _store.NowMs;
            var purgedAt = await _store.LatestMarkerAsync(entry.MarkerKeys, aborted).ConfigureAwait(false);
            var view = EntryView.Create(entry, now, purgedAt);
            if (!noCache && !entry.NoCache)
            {
                if (view.Fresh && (directives.MaxAge is not { } maxAge || view.AgeMs <= maxAge * 1000L)
                    && (directives.MinFresh is not { } minFresh || view.LifetimeMs - view.AgeMs >= minFresh * 1000L))
                {
                    await ServeAsync(context, policy, entry, view, "hit", policy.CacheStatusName + "; hit; ttl=" + Seconds(view.TtlMs)).ConfigureAwait(false);
                    return;
                }

                if (!view.Fresh && !entry.MustRevalidate && directives.MaxStale is { } maxStale
                    && view.StalenessMs <= maxStale * 1000L && (directives.MaxAge is not { } maxAge2 || view.AgeMs <= maxAge2 * 1000L))
                {
                    await ServeAsync(context, policy, entry, view, "stale", policy.CacheStatusName + "; hit; ttl=" + Seconds(view.TtlMs) + "; detail=max-stale").ConfigureAwait(false);
                    return;
                }

                if (!view.Fresh && !entry.MustRevalidate && entry.StaleWhileRevalidateMs >= 0 && view.StalenessMs < entry.StaleWhileRevalidateMs
                    && directives.MaxAge is null && directives.MinFresh is null)
                {
                    _refresher.Schedule(context, policy, rule, primary, entry);
                    await ServeAsync(context, policy, entry, view, "stale", policy.CacheStatusName + "; hit; ttl=" + Seconds(view.TtlMs) + "; detail=stale-while-revalidate").ConfigureAwait(false);
                    return;
                }
            }

            if (directives.OnlyIfCached)
            {
                await GatewayTimeoutAsync(context, policy).ConfigureAwait(false);
                return;
            }

            // fwd=request when only the client's directives (no-cache, max-age, min-fresh) refused a fresh entry.
            var reason = noCache || (view.Fresh && !entry.NoCache) ? "request" : "stale";
            if (reason == "stale" && !HttpMethods.IsHead(request.Method) && CanCoalesce(request, directives, credentials) && !_coalescer.IsHitForMiss(primary))
            {
                // Concurrent requests for an expired entry wait for one revalidation instead of all asking the app.
                await CoalescedForwardAsync(context, policy, rule, primary, directives, credentials, entry, reason).ConfigureAwait(false);
                return;
            }

            await ForwardAsync(context, policy, rule, primary, directives, credentials, entry, reason, coalesced: null).ConfigureAwait(false);
            return;
        }

        if (directives.OnlyIfCached)
        {
            await GatewayTimeoutAsync(context, policy).ConfigureAwait(false);
            return;
        }

        var fwd = record is null ? "uri-miss" : "vary-miss";
        if (HttpMethods.IsHead(request.Method) || !CanCoalesce(request, directives, credentials) || _coalescer.IsHitForMiss(primary))
        {
            await ForwardAsync(context, policy, rule, primary, directives, credentials, null, fwd, coalesced: null).ConfigureAwait(false);
            return;
        }

        await CoalescedForwardAsync(context, policy, rule, primary, directives, credentials, null, fwd).ConfigureAwait(false);
    }

    /// <summary>
    /// One request per key goes to the app (the leader); the others wait and are answered with its result only
    /// when it could have answered them from the cache (<see cref="CacheEntry.MayAnswerWaiters"/>, their
    /// credentials and Vary). Otherwise they all go to the app side by side, and the URL is remembered as
    /// uncacheable for a while (hit-for-miss) so that the next burst is not made to wait.
    /// </summary>
    private async Task CoalescedForwardAsync(HttpContext context, CachePolicy policy, CompiledRule rule, string primary, CacheControl directives, RequestCredentials credentials, CacheEntry? stale, string fwd)
    {
        var request = context.Request;
        var flight = _coalescer.Join(primary, out var leader);
        if (leader)
        {
            CacheEntry? stored = null;
            try
            {
                stored = await ForwardAsync(context, policy, rule, primary, directives, credentials, stale, fwd, flight).ConfigureAwait(false);
            }
            finally
            {
                var answerable = stored is not null && stored.MayAnswerWaiters(_store.NowMs);
                if (!answerable)
                {
                    _coalescer.MarkHitForMiss(primary, policy.HitForMissDuration);
                }

                _coalescer.Complete(flight, answerable ? stored : null);
            }

            return;
        }

        CacheEntry? shared;
        try
        {
            shared = await flight.Result.Task.WaitAsync(policy.CoalescingTimeout, context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            shared = null;
        }

        var now = _store.NowMs;
        if (shared is not null && shared.MayAnswerWaiters(now) && shared.MayServe(credentials)
            && (shared.VaryNames.Length == 0 || shared.VariantHash == CacheKey.VariantHash(shared.VaryNames, request.Headers)))
        {
            var view = EntryView.Create(shared, now, 0);
            await ServeAsync(context, policy, shared, view, "hit", policy.CacheStatusName + "; hit; ttl=" + Seconds(view.TtlMs) + "; detail=coalesced").ConfigureAwait(false);
            return;
        }

        await ForwardAsync(context, policy, rule, primary, directives, credentials, stale, fwd, coalesced: null).ConfigureAwait(false);
    }

    /// <summary>Only requests without credentials, conditions, ranges or no-store wait for another request's forward.</summary>
    private static bool CanCoalesce(HttpRequest request, in CacheControl directives, RequestCredentials credentials)
    {
        var headers = request.Headers;
        return credentials == RequestCredentials.None
            && !directives.NoStore
            && !headers.ContainsKey(HeaderNames.IfNoneMatch) && !headers.ContainsKey(HeaderNames.IfModifiedSince)
            && !headers.ContainsKey(HeaderNames.IfMatch) && !headers.ContainsKey(HeaderNames.IfUnmodifiedSince)
            && !headers.ContainsKey(HeaderNames.Range);
    }

    /// <summary>
    /// Sends the request to the app. With <paramref name="stale"/> it revalidates (conditional when the entry
    /// has validators) and may answer from the entry on a 304 or, within stale-if-error, on an error.
    /// Returns the entry it stored (for coalesced waiters).
    /// </summary>
    private async Task<CacheEntry?> ForwardAsync(
        HttpContext context,
        CachePolicy policy,
        CompiledRule rule,
        string primary,
        CacheControl directives,
        RequestCredentials credentials,
        CacheEntry? stale,
        string fwd,
        RequestCoalescer.Flight? coalesced)
    {
        var isHead = HttpMethods.IsHead(context.Request.Method);
        // A Range request is never revalidated with the entry's validators: that would drop the client's
        // If-Range, and a 206 of a changed resource could then be spliced onto the client's old bytes.
        var conditional = stale is not null && stale.HasValidators && !isHead && !context.Request.Headers.ContainsKey(HeaderNames.Range);
        ClientConditions? clientConditions = null;
        if (conditional)
        {
            // The entry's validators replace the client's while the app is asked: a 304 then refers to
            // the stored entry. The client's own conditions are put back to answer the client.
            clientConditions = ClientConditions.Take(context.Request.Headers);
            SetValidators(context.Request.Headers, stale!);
        }

        var exchange = new Exchange(this, context, policy, rule, primary, directives, credentials, stale, fwd, conditional, isHead, background: false);
        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var body = new CapturingResponseBody(original, policy.MaxEntryBytes, exchange.Decide);
        context.Features.Set<IHttpResponseBodyFeature>(body);
        try
        {
            await _next(context).ConfigureAwait(false);
            body.EnsureDecided();
        }
        finally
        {
            context.Features.Set<IHttpResponseBodyFeature>(original);
            clientConditions?.Restore(context.Request.Headers);
        }

        switch (exchange.Outcome)
        {
            case Outcome.Revalidated:
            {
                var freshened = Freshen(stale!, context.Response.Headers, exchange.RequestTimeMs, exchange.ResponseTimeMs, policy, rule);
                ResetResponse(context);
                var view = EntryView.Create(freshened.Entry, _store.NowMs, 0);
                var stored = freshened.Storable ? "; stored" : "; detail=" + freshened.Detail;
                await ServeAsync(context, policy, freshened.Entry, view, "revalidated", policy.CacheStatusName + "; fwd=" + fwd + "; fwd-status=304" + stored).ConfigureAwait(false);
                if (!freshened.Storable)
                {
                    return null;
                }

                coalesced?.Result.TrySetResult(freshened.Entry);
                await CompleteAndStoreAsync(context, policy, freshened.Entry, freshened.Bytes, freshened.Entry.Primary).ConfigureAwait(false);
                return freshened.Entry;
            }

            case Outcome.StaleOnError:
            {
                ResetResponse(context);
                var view = EntryView.Create(stale!, _store.NowMs, 0);
                await ServeAsync(context, policy, stale!, view, "stale", policy.CacheStatusName + "; fwd=" + fwd + "; fwd-status=" + exchange.UpstreamStatus.ToString(CultureInfo.InvariantCulture) + "; detail=stale-if-error").ConfigureAwait(false);
                return null;
            }

            case Outcome.Store when !body.Overflowed && IsComplete(context, body):
            {
                var created = BuildEntry(exchange, body.Captured);
                SetResult(context, "miss", created.Entry, _store.NowMs);
                coalesced?.Result.TrySetResult(created.Entry);
                await CompleteAndStoreAsync(context, policy, created.Entry, created.Bytes, primary).ConfigureAwait(false);
                return created.Entry;
            }

            case Outcome.Store:
                SetResult(context, "miss", null);
                if (body.Overflowed)
                {
                    _coalescer.MarkHitForMiss(primary, policy.HitForMissDuration);
                }

                return null;

            default:
                SetResult(context, exchange.Outcome == Outcome.Uncacheable ? "uncacheable" : "miss", null);
                return null;
        }
    }

    /// <summary>
    /// A stale-while-revalidate refresh: the same forward path as a client request (routing, YARP, its
    /// transforms and error handling) on a context of its own, its response held back and stored.
    /// </summary>
    /// <returns>True when a refreshed entry was written to the store.</returns>
    internal async Task<bool> RefreshAsync(HttpContext sub, CachePolicy policy, CompiledRule rule, string primary, CacheEntry stale)
    {
        var conditional = stale.HasValidators;
        if (conditional)
        {
            SetValidators(sub.Request.Headers, stale);
        }

        var exchange = new Exchange(this, sub, policy, rule, primary, default, Credentials.Of(sub, rule), stale, "stale", conditional, isHead: false, background: true);
        var body = new CapturingResponseBody(sub.Features.GetRequiredFeature<IHttpResponseBodyFeature>(), policy.MaxEntryBytes, exchange.Decide);
        sub.Features.Set<IHttpResponseBodyFeature>(body);
        await _next(sub).ConfigureAwait(false);
        body.EnsureDecided();
        if (exchange.Outcome == Outcome.Revalidated)
        {
            var freshened = Freshen(stale, sub.Response.Headers, exchange.RequestTimeMs, exchange.ResponseTimeMs, policy, rule);
            if (!freshened.Storable)
            {
                return false;
            }

            return await WriteEntryAsync(policy, freshened.Entry, freshened.Bytes, primary, sub.RequestAborted).ConfigureAwait(false);
        }

        if (exchange.Outcome == Outcome.Store && !body.Overflowed && IsComplete(sub, body))
        {
            var created = BuildEntry(exchange, body.Captured);
            return await WriteEntryAsync(policy, created.Entry, created.Bytes, primary, sub.RequestAborted).ConfigureAwait(false);
        }

        return false;
    }

    private static bool IsComplete(HttpContext context, CapturingResponseBody body) =>
        context.GetForwarderErrorFeature() is null
        && !context.RequestAborted.IsCancellationRequested
        && (context.Response.ContentLength is not { } length || length == body.Written);

    /// <summary>The client's conditional request headers, kept aside while the cache revalidates.</summary>
    private sealed record ClientConditions(StringValues IfNoneMatch, StringValues IfModifiedSince, StringValues IfMatch, StringValues IfUnmodifiedSince, StringValues IfRange)
    {
        public static ClientConditions Take(IHeaderDictionary headers) =>
            new(headers.IfNoneMatch, headers.IfModifiedSince, headers.IfMatch, headers.IfUnmodifiedSince, headers.IfRange);

        public void Restore(IHeaderDictionary headers)
        {
            headers.IfNoneMatch = IfNoneMatch;
            headers.IfModifiedSince = IfModifiedSince;
            headers.IfMatch = IfMatch;
            headers.IfUnmodifiedSince = IfUnmodifiedSince;
            headers.IfRange = IfRange;
        }
    }

    /// <summary>The request's conditional header fields (RFC 9110 §13.1).</summary>
    internal static readonly string[] ConditionalHeaders =
        [HeaderNames.IfNoneMatch, HeaderNames.IfModifiedSince, HeaderNames.IfMatch, HeaderNames.IfUnmodifiedSince, HeaderNames.IfRange];

    internal static bool IsConditionalHeader(string name)
    {
        foreach (var conditional in ConditionalHeaders)
        {
            if (name.Equals(conditional, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    internal static void SetValidators(IHeaderDictionary headers, CacheEntry entry)
    {
        foreach (var conditional in ConditionalHeaders)
        {
            headers.Remove(conditional);
        }

        if (entry.ETag is { } etag)
        {
            headers.IfNoneMatch = etag;
        }

        if (entry.LastModified is { } lastModified)
        {
            headers.IfModifiedSince = lastModified;
        }
    }

    private static void ResetResponse(HttpContext context)
    {
        var response = context.Response;
        response.Headers.Clear();
        response.StatusCode = StatusCodes.Status200OK;
        context.Features.Set<IForwarderErrorFeature>(null);
    }

    /// <summary>Lets the client's response finish, then writes the entry (the client never waits for the store).</summary>
    private async Task CompleteAndStoreAsync(HttpContext context, CachePolicy policy, CacheEntry entry, byte[] bytes, string primary)
    {
        try
        {
            await context.Response.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception error) when (error is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client went away; the entry is still good.
        }

        await WriteEntryAsync(policy, entry, bytes, primary, CancellationToken.None).ConfigureAwait(false);
    }

    /// <returns>True when the store accepted the entry (with the Redis store: handed to its background writer).</returns>
    internal async Task<bool> WriteEntryAsync(CachePolicy policy, CacheEntry entry, byte[] bytes, string primary, CancellationToken cancellationToken)
    {
        var urlHash = entry.UrlHash;
        var tags = CacheTags.StoreTagsFor(urlHash, entry.Tags);
        var validFor = new StorageDecision(true, null, false, entry.LifetimeMs, entry.CorrectedInitialAgeMs, entry.StaleWhileRevalidateMs, entry.StaleIfErrorMs, entry.Flags, entry.VaryNames)
            .ValidFor(policy, entry.HasValidators);
        bool stored;
        if (entry.VaryNames.Length == 0)
        {
            stored = await _store.SetAsync(CacheKey.PrimaryStoreKey(primary), urlHash, bytes, tags, validFor, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var varyRecord = CacheEntrySerializer.Serialize(new CacheEntry { Kind = RecordKind.Vary, VaryNames = entry.VaryNames });
            var recordLifetime = TimeSpan.FromMilliseconds(policy.MaxEntryLifetimeMs);
            stored = await _store.SetAsync(CacheKey.PrimaryStoreKey(primary), urlHash, varyRecord, CacheTags.StoreTagsFor(urlHash, []), recordLifetime, cancellationToken).ConfigureAwait(false)
                && await _store.SetAsync(CacheKey.VariantStoreKey(primary, entry.VariantHash), urlHash, bytes, tags, validFor, cancellationToken).ConfigureAwait(false);
        }

        if (entry.MayAnswerWaiters(_store.NowMs))
        {
            _coalescer.ClearHitForMiss(primary);
        }

        return stored;
    }

    private static (CacheEntry Entry, byte[] Bytes) BuildEntry(Exchange exchange, ReadOnlyMemory<byte> body)
    {
        var decision = exchange.Decision;
        var entry = new CacheEntry
        {
            Kind = RecordKind.Response,
            VaryNames = decision.VaryNames,
            Primary = exchange.Primary,
            VariantHash = decision.VaryNames.Length == 0 ? string.Empty : CacheKey.VariantHash(decision.VaryNames, exchange.Context.Request.Headers),
            Status = exchange.UpstreamStatus,
            RequestTimeMs = exchange.RequestTimeMs,
            ResponseTimeMs = exchange.ResponseTimeMs,
            CorrectedInitialAgeMs = decision.CorrectedInitialAgeMs,
            LifetimeMs = decision.LifetimeMs,
            StaleWhileRevalidateMs = decision.StaleWhileRevalidateMs,
            StaleIfErrorMs = decision.StaleIfErrorMs,
            Flags = decision.Flags,
            Tags = exchange.Tags,
            Headers = exchange.StoredHeaders,
            Body = body,
        };
        var (bytes, decoded) = CacheEntrySerializer.SerializeAndDecode(entry);
        return (decoded, bytes);
    }

    /// <summary>§4.3.4: the stored headers are updated with those of the 304 (except the framing ones); times restart.</summary>
    private static (CacheEntry Entry, byte[] Bytes, bool Storable, string? Detail) Freshen(CacheEntry stale, IHeaderDictionary notModified, long requestTimeMs, long responseTimeMs, CachePolicy policy, CompiledRule rule)
    {
        var headers = new List<KeyValuePair<string, StringValues>>(stale.Headers.Length + 4);
        foreach (var header in stale.Headers)
        {
            if (!notModified.ContainsKey(header.Key) || IsFramingHeader(header.Key))
            {
                headers.Add(header);
            }
        }

        foreach (var header in notModified)
        {
            if (!IsFramingHeader(header.Key) && IsStorableHeader(header.Key, policy) && !header.Key.Equals(CacheStatusHeader, StringComparison.OrdinalIgnoreCase))
            {
                headers.Add(new(header.Key, header.Value));
            }
        }

        var merged = new HeaderDictionary();
        foreach (var (name, value) in headers)
        {
            merged[name] = value;
        }

        var decision = StorageDecision.Evaluate(stale.Status, merged, RequestCredentials.None, requestNoStore: false, rule, policy, requestTimeMs, responseTimeMs);
        var storable = decision.Store || !decision.ResponseReason;
        var entry = new CacheEntry
        {
            Kind = RecordKind.Response,
            VaryNames = stale.VaryNames,
            Primary = stale.Primary,
            VariantHash = stale.VariantHash,
            Status = stale.Status,
            RequestTimeMs = requestTimeMs,
            ResponseTimeMs = responseTimeMs,
            CorrectedInitialAgeMs = decision.Store ? decision.CorrectedInitialAgeMs : 0,
            LifetimeMs = decision.Store ? decision.LifetimeMs : 0,
            StaleWhileRevalidateMs = decision.Store ? decision.StaleWhileRevalidateMs : stale.StaleWhileRevalidateMs,
            StaleIfErrorMs = decision.Store ? decision.StaleIfErrorMs : stale.StaleIfErrorMs,
            Flags = decision.Store ? decision.Flags : stale.Flags,
            Tags = stale.Tags,
            Headers = [.. headers],
            Body = stale.Body,
        };
        var (bytes, decoded) = CacheEntrySerializer.SerializeAndDecode(entry);
        return (decoded, bytes, storable, decision.Detail);
    }

    private static bool IsFramingHeader(string name) =>
        name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentRange, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase);

    /// <summary>Headers kept in an entry: not Set-Cookie, not Age, not hop-by-hop, not Surrogate-Key unless it is forwarded.</summary>
    internal static bool IsStorableHeader(string name, CachePolicy policy) =>
        !(name.Equals(HeaderNames.SetCookie, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Age, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.KeepAlive, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ProxyAuthenticate, StringComparison.OrdinalIgnoreCase)
        || name.Equals("Proxy-Connection", StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Trailer, StringComparison.OrdinalIgnoreCase)
        || (!policy.ForwardSurrogateKeyHeader && name.Equals(policy.SurrogateKeyHeader, StringComparison.OrdinalIgnoreCase)));

    private async Task ServeAsync(HttpContext context, CachePolicy policy, CacheEntry entry, EntryView view, string result, string cacheStatus)
    {
        var request = context.Request;
        var response = context.Response;
        SetResult(context, result, entry, view);
        var notModified = entry.Status == StatusCodes.Status200OK && ClientConditionMatches(request, entry);
        response.StatusCode = notModified ? StatusCodes.Status304NotModified : entry.Status;
        var headers = response.Headers;
        foreach (var header in entry.Headers)
        {
            if (!notModified || IsNotModifiedHeader(header.Key))
            {
                headers[header.Key] = header.Value;
            }
        }

        headers.Age = AgeText(view.AgeMs);
        headers.Append(CacheStatusHeader, cacheStatus);
        if (notModified || entry.Status is 204 or 304)
        {
            headers.ContentLength = null;
            return;
        }

        headers.ContentLength = entry.Body.Length;
        if (!HttpMethods.IsHead(request.Method) && entry.Body.Length > 0)
        {
            await response.Body.WriteAsync(entry.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static readonly string[] SmallAges = [.. Enumerable.Range(0, 512).Select(i => i.ToString(CultureInfo.InvariantCulture))];

    private static string AgeText(long ageMs)
    {
        var seconds = Freshness.AgeSeconds(ageMs);
        return seconds < SmallAges.Length ? SmallAges[seconds] : seconds.ToString(CultureInfo.InvariantCulture);
    }

    private static bool IsNotModifiedHeader(string name) =>
        name.Equals(HeaderNames.ETag, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.CacheControl, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentLocation, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Expires, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Vary, StringComparison.OrdinalIgnoreCase);

    /// <summary>RFC 9110 §13.2.2 for a cache: If-None-Match (weak comparison) first, else If-Modified-Since.</summary>
    internal static bool ClientConditionMatches(HttpRequest request, CacheEntry entry)
    {
        var ifNoneMatch = request.Headers.IfNoneMatch;
        if (ifNoneMatch.Count > 0)
        {
            var etag = entry.ETag;
            if (etag is null)
            {
                return false;
            }

            var stored = Opaque(etag);
            foreach (var value in ifNoneMatch)
            {
                foreach (var member in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    if (member == "*" || Opaque(member).SequenceEqual(stored))
                    {
                        return true;
                    }
                }
            }

            return false;
        }

        var ifModifiedSince = request.Headers.IfModifiedSince;
        if (ifModifiedSince.Count > 0 && Freshness.TryParseDate(ifModifiedSince[0], out var since))
        {
            var reference = entry.LastModified ?? entry.Header(HeaderNames.Date);
            return Freshness.TryParseDate(reference, out var modified) && modified <= since;
        }

        return false;
    }

    private static ReadOnlySpan<char> Opaque(string tag) => tag.StartsWith("W/", StringComparison.Ordinal) ? tag.AsSpan(2) : tag.AsSpan();

    private async Task UnsafeAsync(HttpContext context, CachePolicy policy)
    {
        SetResult(context, "bypass", null);
        await _next(context).ConfigureAwait(false);
        var status = context.Response.StatusCode;
        if (status is < 200 or >= 400)
        {
            return;
        }

        var request = context.Request;
        var targets = new HashSet<string>(StringComparer.Ordinal)
        {
            CacheKey.Primary(request, policy.Match(HttpMethods.Get, request.Path.Value ?? "/")),
        };
        var self = new Uri(request.Scheme + "://" + request.Host.Value + request.PathBase.Value + request.Path.Value, UriKind.Absolute);
        foreach (var name in (ReadOnlySpan<string>)[HeaderNames.Location, HeaderNames.ContentLocation])
        {
            var value = context.Response.Headers[name].ToString();
            if (value.Length > 0 && Uri.TryCreate(self, value, out var target)
                && Uri.Compare(self, target, UriComponents.SchemeAndServer, UriFormat.SafeUnescaped, StringComparison.OrdinalIgnoreCase) == 0)
            {
                targets.Add(policy.PrimaryFor(target));
            }
        }

        // Side by side, so a slow store costs the response at most one store timeout, not one per target; a store
        // that cannot be reached (Redis down, its breaker open) is skipped, counted and logged by the store layer.
        if (targets.Count == 1)
        {
            await _store.InvalidateAsync(CacheTags.Url(CacheKey.Hash(targets.First())), CancellationToken.None).ConfigureAwait(false);
            return;
        }

        await Task.WhenAll(targets.Select(t => _store.InvalidateAsync(CacheTags.Url(CacheKey.Hash(t)), CancellationToken.None).AsTask())).ConfigureAwait(false);
    }

    private async Task GatewayTimeoutAsync(HttpContext context, CachePolicy policy)
    {
        SetResult(context, "miss", null);
        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.Append(CacheStatusHeader, policy.CacheStatusName + "; detail=only-if-cached");
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync("Not in cache (only-if-cached).", context.RequestAborted).ConfigureAwait(false);
    }

    private static void AppendOnStarting(HttpContext context, string value) =>
        context.Response.OnStarting(static state =>
        {
            var (ctx, status) = ((HttpContext, string))state;
            ctx.Response.Headers.Append(CacheStatusHeader, status);
            return Task.CompletedTask;
        }, (context, value));

    private void SetResult(HttpContext context, string result, CacheEntry? entry, EntryView view)
    {
        _metrics.Lookup(result);
        if (context.Features.Get<ICacheResultFeature>() is { } feature)
        {
            feature.Result = result;
        }

        CacheMetrics.Annotate(result, entry?.UrlHash, Freshness.AgeSeconds(view.AgeMs), view.TtlMs / 1000);
    }

    private void SetResult(HttpContext context, string result, CacheEntry? entry, long? nowMs = null)
    {
        _metrics.Lookup(result);
        if (context.Features.Get<ICacheResultFeature>() is { } feature)
        {
            feature.Result = result;
        }

        if (entry is not null && nowMs is { } now)
        {
            var view = EntryView.Create(entry, now, 0);
            CacheMetrics.Annotate(result, entry.UrlHash, Freshness.AgeSeconds(view.AgeMs), view.TtlMs / 1000);
        }
        else
        {
            CacheMetrics.Annotate(result, null, null, null);
        }
    }

    private static string Seconds(long ms) => (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000)).ToString(CultureInfo.InvariantCulture);

    internal enum Outcome
    {
        None,
        PassThrough,
        Uncacheable,
        Store,
        Revalidated,
        StaleOnError,
    }

    /// <summary>One forward and what was decided about its response when it started.</summary>
    internal sealed class Exchange(
        HttpCacheMiddleware owner,
        HttpContext context,
        CachePolicy policy,
        CompiledRule rule,
        string primary,
        CacheControl directives,
        RequestCredentials credentials,
        CacheEntry? stale,
        string fwd,
        bool conditional,
        bool isHead,
        bool background)
    {
        public HttpContext Context { get; } = context;

        public string Primary { get; } = primary;

        public long RequestTimeMs { get; } = owner._store.NowMs;

        public long ResponseTimeMs { get; private set; }

        public int UpstreamStatus { get; private set; }

        public Outcome Outcome { get; private set; }

        public StorageDecision Decision { get; private set; }

        public KeyValuePair<string, StringValues>[] StoredHeaders { get; private set; } = [];

        public string[] Tags { get; private set; } = [];

        public BodyMode Decide(CapturingResponseBody body)
        {
            var response = Context.Response;
            ResponseTimeMs = owner._store.NowMs;
            UpstreamStatus = response.StatusCode;
            var status = UpstreamStatus;
            if (stale is not null && conditional && status == StatusCodes.Status304NotModified)
            {
                Outcome = Outcome.Revalidated;
                return BodyMode.Hold;
            }

            // Never for an entry that must be validated before each use (no-cache) or once stale (must-revalidate).
            if (stale is not null && status is 500 or 502 or 503 or 504 && !stale.MustRevalidate && !stale.NoCache && stale.StaleIfErrorMs >= 0)
            {
                var view = EntryView.Create(stale, ResponseTimeMs, 0);
                if (view.StalenessMs <= stale.StaleIfErrorMs)
                {
                    Outcome = Outcome.StaleOnError;
                    return BodyMode.Hold;
                }
            }

            var headers = response.Headers;
            var surrogate = headers[policy.SurrogateKeyHeader];
            StorageDecision decision;
            if (isHead)
            {
                decision = StorageDecision.No("head", false);
            }
            else
            {
                decision = StorageDecision.Evaluate(
                    status,
                    headers,
                    credentials,
                    directives.NoStore,
                    rule,
                    policy,
                    RequestTimeMs,
                    ResponseTimeMs);
            }

            Decision = decision;
            var statusText = policy.CacheStatusName + "; fwd=" + fwd + "; fwd-status=" + status.ToString(CultureInfo.InvariantCulture);
            if (decision.Store)
            {
                Outcome = Outcome.Store;
                Tags = CollectTags(rule.Tags, surrogate);
                StoredHeaders = Snapshot(headers, policy);
                statusText += "; stored";
            }
            else
            {
                Outcome = decision.ResponseReason ? Outcome.Uncacheable : Outcome.PassThrough;
                statusText += "; detail=" + decision.Detail;
                if (decision.ResponseReason && !background)
                {
                    owner._coalescer.MarkHitForMiss(Primary, policy.HitForMissDuration);
                }
            }

            if (!policy.ForwardSurrogateKeyHeader)
            {
                headers.Remove(policy.SurrogateKeyHeader);
            }

            if (background)
            {
                return BodyMode.Hold;
            }

            headers.Append(CacheStatusHeader, statusText);
            return decision.Store ? BodyMode.Tee : BodyMode.PassThrough;
        }

        private static string[] CollectTags(string[] ruleTags, StringValues surrogate)
        {
            if (surrogate.Count == 0)
            {
                return ruleTags;
            }

            var tags = new List<string>(ruleTags);
            foreach (var value in surrogate)
            {
                foreach (var tag in (value ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (!tags.Contains(tag))
                    {
                        tags.Add(tag);
                    }
                }
            }

            return [.. tags];
        }

        private static KeyValuePair<string, StringValues>[] Snapshot(IHeaderDictionary headers, CachePolicy policy)
        {
            var list = new List<KeyValuePair<string, StringValues>>(headers.Count);
            foreach (var header in headers)
            {
                if (IsStorableHeader(header.Key, policy))
                {
                    list.Add(header);
                }
            }

            return [.. list];
        }
    }

    /// <summary>Age and freshness of an entry at one moment, a soft purge taken into account.</summary>
    internal readonly record struct EntryView(long AgeMs, long LifetimeMs)
    {
        public bool Fresh => AgeMs < LifetimeMs;

        public long StalenessMs => AgeMs - LifetimeMs;

        public long TtlMs => LifetimeMs - AgeMs;

        /// <summary>A soft purge at <paramref name="purgedAtMs"/> (after the entry was stored) ends its freshness then.</summary>
        public static EntryView Create(CacheEntry entry, long nowMs, long purgedAtMs)
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
}
