using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>What was decided about a forwarded response when it started.</summary>
internal enum ExchangeOutcome
{
    /// <summary>Nothing decided (the forward ended before a response started).</summary>
    None,

    /// <summary>Sent to the client, not stored, saying nothing about the resource (a 206 or 304, credentials, HEAD).</summary>
    PassThrough,

    /// <summary>Sent to the client, not stored: the resource cannot be stored (hit-for-miss).</summary>
    Uncacheable,

    /// <summary>Sent to the client and captured for the store.</summary>
    Store,

    /// <summary>A 304 to the cache's own validators: held back; the stored entry is freshened and served.</summary>
    Revalidated,

    /// <summary>An error within stale-if-error, or no answer within StaleIfUnreachable: held back; the stale entry is served.</summary>
    StaleOnError,

    /// <summary>A HEAD whose validators match the stored GET's: sent to the client; the stored entry is freshened with its headers.</summary>
    HeadMatched,

    /// <summary>A HEAD whose validators differ from the stored GET's: sent to the client; the stored entry is invalidated.</summary>
    HeadChanged,
}

/// <summary>
/// One forward to the app — for a client's miss or revalidation, or for a background refresh — and what was decided
/// about its response when it started (<see cref="Decide"/>, called by <see cref="CapturingResponseBody"/> before
/// anything reaches the client).
/// </summary>
internal sealed class UpstreamExchange
{
    private readonly CacheClock _clock;
    private readonly RequestCoalescer? _coalescer;

    public UpstreamExchange(HttpContext context, CachePolicy policy, CompiledRule rule, string primary, CacheControl directives, RequestCredentials credentials, CacheEntry? stale, ForwardReason reason, bool background, CacheClock clock, RequestCoalescer? coalescer)
    {
        Context = context;
        Policy = policy;
        Rule = rule;
        Primary = primary;
        Directives = directives;
        Credentials = credentials;
        Stale = stale;
        Reason = reason;
        Background = background;
        IsHead = HttpMethods.IsHead(context.Request.Method);
        _clock = clock;
        _coalescer = coalescer;
        RequestTimeMs = clock.NowMs;

        // A Range request is never revalidated with the entry's validators: that would drop the client's
        // If-Range, and a 206 of a changed resource could then be spliced onto the client's old bytes.
        Conditional = stale is not null && stale.HasValidators && !IsHead && !context.Request.Headers.ContainsKey(HeaderNames.Range);
    }

    public HttpContext Context { get; }

    public CachePolicy Policy { get; }

    public CompiledRule Rule { get; }

    public string Primary { get; }

    public CacheControl Directives { get; }

    public RequestCredentials Credentials { get; }

    /// <summary>The stored entry being revalidated; null for a plain miss.</summary>
    public CacheEntry? Stale { get; }

    public ForwardReason Reason { get; }

    /// <summary>A background refresh: nothing goes to a client; the response is held and stored.</summary>
    public bool Background { get; }

    public bool IsHead { get; }

    /// <summary>The app is asked with the entry's validators (a 304 then freshens the entry).</summary>
    public bool Conditional { get; }

    public long RequestTimeMs { get; }

    public long ResponseTimeMs { get; private set; }

    public int UpstreamStatus { get; private set; }

    /// <summary>The app's Content-Length, as it was when the response started (compression removes the field on the way out).</summary>
    public long? AnnouncedLength { get; private set; }

    public ExchangeOutcome Outcome { get; private set; }

    public StorageDecision Decision { get; private set; }

    public KeyValuePair<string, StringValues>[] StoredHeaders { get; private set; } = [];

    public string[] Tags { get; private set; } = [];

    /// <summary>With <see cref="ExchangeOutcome.StaleOnError"/>: why the stale entry answers (stale-if-error, unreachable).</summary>
    public string? StaleDetail { get; private set; }

    public BodyMode Decide(CapturingResponseBody body)
    {
        var response = Context.Response;
        ResponseTimeMs = _clock.NowMs;
        UpstreamStatus = response.StatusCode;
        AnnouncedLength = response.ContentLength;
        var status = UpstreamStatus;
        if (Stale is not null && Conditional && status == StatusCodes.Status304NotModified)
        {
            Outcome = ExchangeOutcome.Revalidated;
            return BodyMode.Hold;
        }

        // Never for an entry that must be validated before each use (no-cache) or once stale (must-revalidate).
        if (Stale is not null && status is 500 or 502 or 503 or 504 && !Stale.MustRevalidate && !Stale.NoCache && Stale.StaleIfErrorMs >= 0
            && EntryView.Create(Stale, ResponseTimeMs, 0).StalenessMs <= Stale.StaleIfErrorMs)
        {
            Outcome = ExchangeOutcome.StaleOnError;
            StaleDetail = "stale-if-error";
            return BodyMode.Hold;
        }

        // RFC 9111 §4.2.4: the app could not be reached at all (no response of its own), within the configured window.
        if (Stale is not null && Stale.MayServeUnreachable && Context.GetForwarderErrorFeature() is { } failure && IsUnreachable(failure.Error)
            && EntryView.Create(Stale, ResponseTimeMs, 0).StalenessMs <= Policy.StaleIfUnreachableMs)
        {
            Outcome = ExchangeOutcome.StaleOnError;
            StaleDetail = "unreachable";
            return BodyMode.Hold;
        }

        var headers = response.Headers;
        if (IsHead && Stale is not null && status == StatusCodes.Status200OK && !Background)
        {
            // RFC 9111 §4.3.5: a HEAD answer freshens the stored GET when its validators say it is the same representation.
            Outcome = SameRepresentation(Stale, headers) ? ExchangeOutcome.HeadMatched : ExchangeOutcome.HeadChanged;
        }

        var surrogate = headers[Policy.SurrogateKeyHeader];
        var decision = IsHead
            ? StorageDecision.No("head", false)
            : StorageDecision.Evaluate(status, headers, Credentials, Directives.NoStore, Rule, Policy, RequestTimeMs, ResponseTimeMs);
        Decision = decision;
        if (decision.Store)
        {
            Outcome = ExchangeOutcome.Store;
            Tags = CollectTags(Rule.Tags, surrogate);
            StoredHeaders = EntryWriter.Snapshot(headers, Policy);
        }
        else if (Outcome is not (ExchangeOutcome.HeadMatched or ExchangeOutcome.HeadChanged))
        {
            Outcome = decision.ResponseReason ? ExchangeOutcome.Uncacheable : ExchangeOutcome.PassThrough;
            if (decision.ResponseReason && !Background)
            {
                _coalescer?.MarkHitForMiss(Primary, Policy.HitForMissDuration);
            }
        }

        if (!Policy.ForwardSurrogateKeyHeader)
        {
            headers.Remove(Policy.SurrogateKeyHeader);
        }

        if (Background)
        {
            return BodyMode.Hold;
        }

        headers.Append(CacheStatusText.Header, CacheStatusText.Forwarded(Policy.CacheStatusName, Reason, status, decision.Store, decision.Store ? null : decision.Detail));
        return decision.Store ? BodyMode.Tee : BodyMode.PassThrough;
    }

    /// <summary>
    /// The stored entry and a HEAD answer describe the same representation: the strong ETag, else the Last-Modified,
    /// is the same, and so is Content-Length when both have one. Without a validator to compare, they do not.
    /// </summary>
    private static bool SameRepresentation(CacheEntry stored, IHeaderDictionary head)
    {
        bool same;
        if (stored.ETag is { } etag && !etag.StartsWith("W/", StringComparison.Ordinal))
        {
            same = head.ETag.Count == 1 && string.Equals(head.ETag[0], etag, StringComparison.Ordinal);
        }
        else if (stored.LastModified is { } lastModified)
        {
            same = head.LastModified.Count == 1 && string.Equals(head.LastModified[0], lastModified, StringComparison.Ordinal);
        }
        else
        {
            return false;
        }

        return same && (head.ContentLength is not { } length || stored.Header(HeaderNames.ContentLength) is not { } storedLength
            || storedLength == length.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The forward failed before the app answered anything: refused, reset, timed out, no destination.</summary>
    private static bool IsUnreachable(Yarp.ReverseProxy.Forwarder.ForwarderError error) => error is
        Yarp.ReverseProxy.Forwarder.ForwarderError.Request
        or Yarp.ReverseProxy.Forwarder.ForwarderError.RequestTimedOut
        or Yarp.ReverseProxy.Forwarder.ForwarderError.NoAvailableDestinations
        or Yarp.ReverseProxy.Forwarder.ForwarderError.ResponseHeaders;

    /// <summary>True when the response arrived whole: no forwarder error, no abort, as many bytes as it announced.</summary>
    public bool IsComplete(CapturingResponseBody body) =>
        Context.GetForwarderErrorFeature() is null
        && !Context.RequestAborted.IsCancellationRequested
        && (AnnouncedLength is not { } length || length == body.Written);

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
}

/// <summary>
/// The one forward-and-capture path, for client misses, revalidations and background refreshes alike: the request
/// goes through the rest of the pipeline (routing, YARP with its transforms and error handling) with the response
/// body captured as the exchange decides. With the entry's validators, the client's own conditions are put aside
/// while the app is asked, and put back after.
/// </summary>
internal sealed class CacheForwarder(RequestDelegate next, CaptureBudget budget)
{
    public async Task<Forwarded> SendAsync(UpstreamExchange exchange)
    {
        var context = exchange.Context;
        Validators.ClientConditions? clientConditions = null;
        if (exchange.Conditional)
        {
            clientConditions = exchange.Background ? null : Validators.ClientConditions.Take(context.Request.Headers);
            Validators.SetValidators(context.Request.Headers, exchange.Stale!);
        }

        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var body = new CapturingResponseBody(original, exchange.Policy.MaxEntryBytes, exchange.Decide, budget);
        context.Features.Set<IHttpResponseBodyFeature>(body);
        try
        {
            await next(context).ConfigureAwait(false);
            body.EnsureDecided();
        }
        catch
        {
            body.ReleaseCapture();
            throw;
        }
        finally
        {
            context.Features.Set<IHttpResponseBodyFeature>(original);
            clientConditions?.Restore(context.Request.Headers);
        }

        return new Forwarded(body);
    }

    /// <summary>The captured response body; disposing gives its bytes back to the capture budget.</summary>
    internal readonly struct Forwarded(CapturingResponseBody body) : IDisposable
    {
        public CapturingResponseBody Body { get; } = body;

        public void Dispose() => Body.ReleaseCapture();
    }
}
