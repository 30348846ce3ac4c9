using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>A request to explain: a URL as clients request it, its method, headers, and whether it comes with a client certificate.</summary>
internal sealed record ExplainRequest(Uri Url, string Method, IReadOnlyList<KeyValuePair<string, string>> Headers, bool ClientCertificate);

/// <summary>
/// Says what the cache would do with a request, and why, without doing it: the request is built as Kestrel would
/// hand it over (scheme, host, path, query, the target as sent, the headers), and goes through the cache's own
/// parts (<see cref="CacheRequestContext"/>, <see cref="CacheLookup"/> and <see cref="CacheDecisions"/>), so the
/// answer cannot drift from what the cache does. The store is read through a view that changes nothing (no first
/// level filled, no second chance given, no purge-marker read remembered); the app is never asked.
/// </summary>
internal sealed class CacheExplainer(CachePolicyProvider policies, HttpCacheStore store, RequestCoalescer coalescer, SharedStoreHealth? sharedStore = null)
{
    private static readonly Lazy<X509Certificate2> PlaceholderCertificate = new(CreatePlaceholderCertificate);

    public async Task<CacheExplanation> ExplainAsync(ExplainRequest request, CancellationToken cancellationToken)
    {
        var policy = policies.Current;
        var http = Synthetic(request, cancellationToken);
        var url = request.Url.ToString();
        var notes = new List<string>();

        if (!policy.Enabled)
        {
            return new CacheExplanation(url, request.Method, false, null, null, null, [], null, [],
                new ExplainedDecision("bypass", null, false, "bypass: the cache is off (Sidecar:Cache:Enabled is false); every request goes to the app"), []);
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            var text = $"bypass (method): only GET and HEAD are answered from the cache; {request.Method} goes to the app"
                + (UnsafeMethodInvalidator.IsInvalidating(request.Method) ? ", and when the app answers 2xx or 3xx the URL's stored responses are invalidated" : string.Empty);
            return new CacheExplanation(url, request.Method, true, null, null, null, [], null, [], new ExplainedDecision("bypass", ForwardReason.Method.Name(), false, text), []);
        }

        var context = CacheRequestContext.Create(http, policy);
        var rule = Describe(context.Rule);
        var credentials = CredentialNames(context.Credentials);
        if (context.Rule.Bypass || context.HasBody)
        {
            var bypass = CacheDecisions.Decide(context.DecisionInput(hitForMiss: false));
            return new CacheExplanation(url, request.Method, true, rule, null, null, credentials, null, [], Decision(bypass, context, null, hitForMiss: false, softPurgedAt: 0), []);
        }

        var reader = new InspectingReader(store);
        await new CacheLookup(reader).LookupAsync(context).ConfigureAwait(false);
        var hitForMiss = coalescer.IsHitForMiss(context.Primary);
        var decision = CacheDecisions.Decide(context.DecisionInput(hitForMiss));
        context.Decision = decision;

        var stored = new List<ExplainedRecord>();
        ExplainedVary? vary = null;
        CacheEntry? found = null;
        long hardPurgedAt = 0;
        long softPurgedAt = 0;
        foreach (var read in reader.Reads)
        {
            if (read.Entry is { Kind: RecordKind.Vary } varyRecord)
            {
                var hash = CacheKey.VariantHash(varyRecord.VaryNames, http.Request.Headers);
                vary = new ExplainedVary(varyRecord.VaryNames, hash, CacheKey.VariantStoreKey(context.Primary, hash));
                stored.Add(new ExplainedRecord("vary", read.StoreKey, read.HeldIn ?? StoreLocations.Store) { VaryNames = varyRecord.VaryNames });
                continue;
            }

            if (read.Entry is null)
            {
                if (read.Rejected is not null)
                {
                    stored.Add(Rejected(read));
                }

                continue;
            }

            found = read.Entry;
            hardPurgedAt = context.Entry is null ? reader.LatestMarker(found.EvictedMarkerKeys) : 0;
            softPurgedAt = await reader.LatestMarkerAsync(found.MarkerKeys, cancellationToken).ConfigureAwait(false);
            softPurgedAt = softPurgedAt >= found.ResponseTimeMs ? softPurgedAt : 0;
            var view = context.Entry is not null && found.MayServe(context.Credentials) ? context.View : EntryView.Create(found, store.NowMs, softPurgedAt);
            stored.Add(Record(read, found, view, softPurgedAt, hardPurgedAt));
        }

        Notes(context, found, hardPurgedAt, hitForMiss, policy, notes);
        if (sharedStore is { BreakerState: not Polly.CircuitBreaker.CircuitState.Closed } health)
        {
            notes.Add($"the shared store (Redis) is failing (breaker {SharedStoreHealth.Describe(health.BreakerState)}): while it is skipped, lookups answer as if nothing were stored, and so does this explanation");
        }

        return new CacheExplanation(url, request.Method, true, rule, context.Primary, CacheKey.Hash(context.Primary), credentials, vary, [.. stored],
            Decision(decision, context, vary, hitForMiss, softPurgedAt), [.. notes]);
    }

    /// <summary>The request as Kestrel hands it to the pipeline: routed path decoded, the target as sent, the headers given.</summary>
    internal static DefaultHttpContext Synthetic(ExplainRequest request, CancellationToken aborted)
    {
        var http = new DefaultHttpContext();
        var url = request.Url;
        var target = url.PathAndQuery;
        var (path, query) = CacheKey.SplitTarget(target);
        var authority = HostString.FromUriComponent(url);
        var http1 = http.Features.Get<IHttpRequestFeature>()!;
        http1.RawTarget = target;
        http.Request.Method = request.Method;
        http.Request.Scheme = url.Scheme;
        http.Request.Host = url.IsDefaultPort ? new HostString(authority.Host) : authority;
        http.Request.Path = PathString.FromUriComponent(path);
        http.Request.QueryString = query is null ? QueryString.Empty : new QueryString(query);
        foreach (var (name, value) in request.Headers)
        {
            http.Request.Headers.Append(name, value);
        }

        if (request.ClientCertificate)
        {
            http.Connection.ClientCertificate = PlaceholderCertificate.Value;
        }

        http.RequestAborted = aborted;
        return http;
    }

    private static ExplainedDecision Decision(CacheDecision decision, CacheRequestContext context, ExplainedVary? vary, bool hitForMiss, long softPurgedAt)
    {
        var view = context.View;
        var entry = context.Entry;
        var directives = context.Directives;
        string action;
        string text;
        switch (decision.Action)
        {
            case CacheAction.Bypass when decision.Reason == ForwardReason.Bypass:
                action = "bypass";
                text = $"bypass: rule \"{context.Rule.Name}\" sends every request for this path to the app (Bypass)";
                break;

            case CacheAction.Bypass:
                action = "bypass";
                text = "bypass: a GET or HEAD with a body goes to the app as it is (the key does not hold the body)";
                break;

            case CacheAction.Hit:
                action = "hit";
                text = $"hit: a fresh stored response answers (age {Seconds(view.AgeMs)} s, fresh for {Seconds(view.TtlMs)} s more)";
                break;

            case CacheAction.Stale:
                action = "stale";
                text = $"stale: the stored response answers {StaleSeconds(view)} s past its freshness, within the request's max-stale={directives.MaxStale}";
                break;

            case CacheAction.StaleWhileRevalidate:
                action = "stale-while-revalidate";
                text = $"stale-while-revalidate: the stored response answers {StaleSeconds(view)} s past its freshness (stale-while-revalidate={Seconds(entry!.StaleWhileRevalidateMs)}) while the app is asked for a new one in the background";
                break;

            case CacheAction.OnlyIfCachedMiss:
                action = "only-if-cached-miss";
                text = "504: the request says only-if-cached and nothing stored may answer it";
                break;

            case CacheAction.Forward when context.Entry is { } refused && !refused.MayServe(context.Credentials):
                action = "forward";
                text = "forward: " + Refusal(context.Credentials, refused);
                break;

            case CacheAction.Forward:
                action = "forward";
                text = decision.Reason == ForwardReason.VaryMiss
                    ? $"forward (vary-miss): responses for this URL vary on {string.Join(", ", vary?.Names ?? [])}; none is stored for this request's values"
                    : "forward (uri-miss): nothing is stored for this URL";
                break;

            default:
                action = "revalidate";
                text = "revalidate: " + WhyRevalidate(context, decision, softPurgedAt) + "; " + HowRevalidate(entry!);
                break;
        }

        var coalesce = decision.Coalesce && !hitForMiss;
        return new ExplainedDecision(action, decision.Action is CacheAction.Forward or CacheAction.Revalidate or CacheAction.Bypass ? decision.Reason.Name() : null, coalesce, text);
    }

    private static string WhyRevalidate(CacheRequestContext context, CacheDecision decision, long softPurgedAt)
    {
        var view = context.View;
        var directives = context.Directives;
        if (context.NoCache)
        {
            return "the request says no-cache, so the app confirms the stored response before it is used";
        }

        if (context.Entry!.NoCache)
        {
            return "the stored response says no-cache, so the app confirms each use";
        }

        if (decision.Reason == ForwardReason.Request)
        {
            if (directives.MaxAge is { } maxAge && view.AgeMs > maxAge * 1000L)
            {
                return $"the request's max-age={maxAge} refuses a stored response {Seconds(view.AgeMs)} s old";
            }

            return $"the request's min-fresh={directives.MinFresh} wants more than the {Seconds(view.TtlMs)} s of freshness left";
        }

        var stale = softPurgedAt > 0 && context.Entry.AgeMs(softPurgedAt) < context.Entry.LifetimeMs
            ? $"the stored response was soft-purged at {Time(softPurgedAt)}, so it is stale"
            : $"the stored response is stale ({StaleSeconds(view)} s past its freshness)";
        if (context.Entry.MustRevalidate)
        {
            return stale + " and says must-revalidate, so it is never served stale";
        }

        if (context.Entry.StaleWhileRevalidateMs >= 0 && view.StalenessMs >= context.Entry.StaleWhileRevalidateMs)
        {
            return stale + $", beyond its stale-while-revalidate={Seconds(context.Entry.StaleWhileRevalidateMs)}";
        }

        return stale;
    }

    private static string HowRevalidate(CacheEntry entry)
    {
        if (entry.ETag is { } etag)
        {
            return $"the app is asked with If-None-Match: {etag} and a 304 freshens it";
        }

        if (entry.LastModified is { } lastModified)
        {
            return $"the app is asked with If-Modified-Since: {lastModified} and a 304 freshens it";
        }

        return "it has no validator, so the app sends a full response";
    }

    /// <summary>Why an entry may not answer these credentials: the words the cache-safety rules use.</summary>
    private static string Refusal(RequestCredentials credentials, CacheEntry entry)
    {
        var authorizationRefused = (credentials & RequestCredentials.Authorization) != 0 && !entry.AuthorizationAllowed;
        var othersRefused = (credentials & ~RequestCredentials.Authorization) != 0 && !entry.Shared;
        if (othersRefused)
        {
            var refused = credentials & ~RequestCredentials.Authorization;
            if (authorizationRefused)
            {
                refused |= RequestCredentials.Authorization;
            }

            return $"request carries {string.Join(" and ", CredentialWords(refused))} and the response is not explicitly public";
        }

        return "request carries Authorization and the response does not allow reuse for it (public, s-maxage or must-revalidate)";
    }

    private static void Notes(CacheRequestContext context, CacheEntry? found, long hardPurgedAt, bool hitForMiss, CachePolicy policy, List<string> notes)
    {
        var headers = context.Request.Headers;
        if (hardPurgedAt > 0)
        {
            notes.Add($"a stored response was purged at {Time(hardPurgedAt)} and is never served again");
        }

        if (context.Credentials != RequestCredentials.None && context.Decision.Action is CacheAction.Forward or CacheAction.Revalidate)
        {
            var words = string.Join(" and ", CredentialWords(context.Credentials));
            notes.Add((context.Credentials & ~RequestCredentials.Authorization) != 0
                ? $"the request carries {words}: the app's response is stored only if it is explicitly public (public, s-maxage or the targeted field)"
                : "the request carries Authorization: the app's response is stored only if it allows it (public, s-maxage or must-revalidate)");
        }

        if (headers.ContainsKey(HeaderNames.Cookie) && (context.Credentials & RequestCredentials.Cookie) == 0)
        {
            notes.Add($"the request's cookies are ignored under rule \"{context.Rule.Name}\" (IgnoreCookies), so they do not make it personal");
        }

        if (context.Rule.IgnoreClientCacheControl && (headers.ContainsKey(HeaderNames.CacheControl) || headers.ContainsKey(HeaderNames.Pragma)))
        {
            notes.Add($"the request's Cache-Control is ignored under rule \"{context.Rule.Name}\" (IgnoreClientCacheControl)");
        }

        if (hitForMiss)
        {
            notes.Add($"the app's last response for this URL could not be shared (hit-for-miss, for up to {policy.HitForMissDuration.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s): requests go to the app side by side instead of waiting for one another");
        }
        else if (context.Decision.Coalesce)
        {
            notes.Add("concurrent requests for this URL wait for one answer from the app (coalescing) instead of each going to it");
        }

        if (found is { HadSetCookie: true })
        {
            notes.Add($"the app's response set a cookie; rule \"{context.Rule.Name}\" allowed storing it (AllowSetCookie), without the Set-Cookie field");
        }
    }

    private static ExplainedRecord Record(InspectingReader.Read read, CacheEntry entry, EntryView view, long softPurgedAt, long hardPurgedAt)
    {
        var sharing = entry.Shared ? "explicitly shared (public, s-maxage or the targeted field): may answer requests with credentials"
            : entry.AuthorizationAllowed ? "may answer requests with Authorization (must-revalidate), not those with cookies or a client certificate"
            : "not explicitly shared: answers only requests without cookies, Authorization or a client certificate";
        return new ExplainedRecord("response", read.StoreKey, read.HeldIn ?? StoreLocations.Store)
        {
            VaryNames = entry.VaryNames.Length == 0 ? null : entry.VaryNames,
            Status = entry.Status,
            StoredAt = DateTimeOffset.FromUnixTimeMilliseconds(entry.ResponseTimeMs),
            AgeSeconds = Seconds(view.AgeMs),
            FreshnessLifetimeSeconds = Seconds(view.LifetimeMs),
            TtlSeconds = view.Fresh ? Seconds(view.TtlMs) : -StaleSeconds(view),
            Fresh = view.Fresh,
            StaleWhileRevalidateSeconds = entry.StaleWhileRevalidateMs < 0 ? null : Seconds(entry.StaleWhileRevalidateMs),
            StaleIfErrorSeconds = entry.StaleIfErrorMs < 0 ? null : Seconds(entry.StaleIfErrorMs),
            ETag = entry.ETag,
            LastModified = entry.LastModified,
            Tags = entry.Tags,
            BodyBytes = entry.Body.Length,
            Sharing = sharing,
            NoCache = entry.NoCache,
            MustRevalidate = entry.MustRevalidate,
            SoftPurgedAt = softPurgedAt > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(softPurgedAt) : null,
            HardPurgedAt = hardPurgedAt > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(hardPurgedAt) : null,
        };
    }

    private static ExplainedRecord Rejected(InspectingReader.Read read) =>
        new("rejected", read.StoreKey, read.HeldIn ?? StoreLocations.Store) { Rejected = read.Rejected };

    private static ExplainedRule Describe(CompiledRule rule) => new(
        rule.Name,
        ReferenceEquals(rule, CompiledRule.None) || rule.Name == CompiledRule.None.Name ? "no rule matches: the app's headers alone decide" : null,
        rule.Bypass,
        rule.DefaultTtlMs is { } d ? Seconds(d) : null,
        rule.ForcedTtlMs is { } f ? Seconds(f) : null,
        rule.StaleWhileRevalidateMs is { } s ? Seconds(s) : null,
        rule.StaleIfErrorMs is { } e ? Seconds(e) : null,
        rule.IgnoreQueryParameters,
        rule.VaryHeaders,
        rule.IgnoreCookies,
        rule.AllowSetCookie,
        rule.IgnoreClientCacheControl,
        rule.Tags);

    private static string[] CredentialNames(RequestCredentials credentials) =>
        [.. CredentialWords(credentials).Select(w => w == ClientCertificateWords ? "client-certificate" : w.ToLowerInvariant())];

    private const string ClientCertificateWords = "a client certificate";

    private static IEnumerable<string> CredentialWords(RequestCredentials credentials)
    {
        if ((credentials & RequestCredentials.Cookie) != 0)
        {
            yield return "Cookie";
        }

        if ((credentials & RequestCredentials.Authorization) != 0)
        {
            yield return "Authorization";
        }

        if ((credentials & RequestCredentials.ClientCertificate) != 0)
        {
            yield return ClientCertificateWords;
        }
    }

    private static long Seconds(long ms) => ms / 1000;

    /// <summary>Seconds past freshness, rounded up (as Cache-Status's negative ttl).</summary>
    private static long StaleSeconds(EntryView view) => (view.StalenessMs + 999) / 1000;

    private static string Time(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>Stands in for a client's certificate: only its presence matters to the cache.</summary>
    private static X509Certificate2 CreatePlaceholderCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ProxySidecar explain placeholder", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddYears(10));
        return X509CertificateLoader.LoadCertificate(certificate.RawData);
    }

    /// <summary>Reads the store for <see cref="CacheLookup"/> without changing it, and remembers what it read and where.</summary>
    private sealed class InspectingReader(HttpCacheStore store) : ICacheRecordReader
    {
        private readonly Dictionary<string, long> _markers = new(StringComparer.Ordinal);

        public List<Read> Reads { get; } = [];

        public long NowMs => store.NowMs;

        public async ValueTask<CacheEntry?> GetAsync(string primary, string? variantHash, CancellationToken cancellationToken)
        {
            var (entry, heldIn, rejected) = await store.InspectAsync(primary, variantHash, cancellationToken).ConfigureAwait(false);
            Reads.Add(new Read(variantHash is null ? CacheKey.PrimaryStoreKey(primary) : CacheKey.VariantStoreKey(primary, variantHash), entry, heldIn, rejected));
            return entry;
        }

        public async ValueTask<long> LatestMarkerAsync(string[] markerKeys, CancellationToken cancellationToken)
        {
            long latest = 0;
            foreach (var key in markerKeys)
            {
                if (!_markers.TryGetValue(key, out var value))
                {
                    value = await store.InspectMarkerAsync(key, cancellationToken).ConfigureAwait(false);
                    _markers[key] = value;
                }

                latest = Math.Max(latest, value);
            }

            return latest;
        }

        /// <summary>The latest of <paramref name="markerKeys"/> already read.</summary>
        public long LatestMarker(string[] markerKeys) => markerKeys.Select(k => _markers.GetValueOrDefault(k)).DefaultIfEmpty().Max();

        public sealed record Read(string StoreKey, CacheEntry? Entry, string? HeldIn, string? Rejected);
    }
}

internal sealed record CacheExplanation(
    string Url,
    string Method,
    bool CacheEnabled,
    ExplainedRule? Rule,
    string? PrimaryKey,
    string? KeyHash,
    string[] Credentials,
    ExplainedVary? Vary,
    ExplainedRecord[] Stored,
    ExplainedDecision Decision,
    string[] Notes);

internal sealed record ExplainedRule(
    string Name,
    string? Note,
    bool Bypass,
    long? DefaultTtlSeconds,
    long? ForcedTtlSeconds,
    long? StaleWhileRevalidateSeconds,
    long? StaleIfErrorSeconds,
    string[] IgnoreQueryParameters,
    string[] VaryHeaders,
    string[] IgnoreCookies,
    bool AllowSetCookie,
    bool IgnoreClientCacheControl,
    string[] Tags);

/// <summary>The Vary record's header names, the hash of this request's values of them, and the store key of that variant.</summary>
internal sealed record ExplainedVary(string[] Names, string VariantHash, string VariantKey);

/// <summary>One record read for the request: the Vary record, the variant it selects (or the URL's only response), or a record rejected as malformed.</summary>
internal sealed record ExplainedRecord(string Kind, string StoreKey, string HeldIn)
{
    public string[]? VaryNames { get; init; }

    public int? Status { get; init; }

    public DateTimeOffset? StoredAt { get; init; }

    public long? AgeSeconds { get; init; }

    public long? FreshnessLifetimeSeconds { get; init; }

    /// <summary>Freshness left; negative: seconds past it.</summary>
    public long? TtlSeconds { get; init; }

    public bool? Fresh { get; init; }

    public long? StaleWhileRevalidateSeconds { get; init; }

    public long? StaleIfErrorSeconds { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("etag")]
    public string? ETag { get; init; }

    public string? LastModified { get; init; }

    public string[]? Tags { get; init; }

    public long? BodyBytes { get; init; }

    public string? Sharing { get; init; }

    public bool? NoCache { get; init; }

    public bool? MustRevalidate { get; init; }

    public DateTimeOffset? SoftPurgedAt { get; init; }

    public DateTimeOffset? HardPurgedAt { get; init; }

    /// <summary>Why the record was not used: malformed, or holding another key.</summary>
    public string? Rejected { get; init; }
}

internal sealed record ExplainedDecision(string Action, string? ForwardReason, bool Coalesce, string Text);
