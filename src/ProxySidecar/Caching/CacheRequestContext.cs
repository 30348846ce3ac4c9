using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// One GET or HEAD the cache handles, created once: the policy snapshot and the matched rule, the request's
/// credentials and directives, its key, what the store held for it, the decision, and the result.
/// </summary>
internal sealed class CacheRequestContext
{
    private CacheRequestContext(HttpContext http, CachePolicy policy, CompiledRule rule)
    {
        Http = http;
        Policy = policy;
        Rule = rule;
    }

    public HttpContext Http { get; }

    public HttpRequest Request => Http.Request;

    public CachePolicy Policy { get; }

    public CompiledRule Rule { get; }

    public RequestCredentials Credentials { get; private init; }

    public CacheControl Directives { get; private init; }

    /// <summary>The client asked for validation (Cache-Control: no-cache, or Pragma: no-cache without Cache-Control).</summary>
    public bool NoCache { get; private init; }

    public string Primary { get; private init; } = string.Empty;

    public bool IsHead { get; private init; }

    public bool HasBody { get; private init; }

    /// <summary>What the primary key held: an entry, the Vary names of the URL's variants, or nothing.</summary>
    public CacheEntry? Record { get; set; }

    /// <summary>The entry for this request's variant, once hard purges are taken into account.</summary>
    public CacheEntry? Entry { get; set; }

    /// <summary>The entry's age and freshness now, soft purges taken into account.</summary>
    public EntryView View { get; set; }

    public CacheDecision Decision { get; set; }

    public static CacheRequestContext Create(HttpContext http, CachePolicy policy)
    {
        var request = http.Request;
        var rule = policy.Match(request.Method, request.Path.Value ?? "/");
        var directives = rule.IgnoreClientCacheControl ? default : CacheControl.Parse(request.Headers.CacheControl);

        // The rule travels with the request, so the result is counted under it (CacheResultRecorder).
        http.Features.Set(rule);
        return new CacheRequestContext(http, policy, rule)
        {
            Credentials = Caching.Credentials.Of(http, rule),
            Directives = directives,
            NoCache = directives.NoCache || (!rule.IgnoreClientCacheControl && !directives.Present && CacheControl.PragmaNoCache(request.Headers.Pragma)),
            Primary = rule.Bypass ? string.Empty : CacheKey.Primary(request, rule),
            IsHead = HttpMethods.IsHead(request.Method),
            HasBody = http.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: true },
        };
    }

    /// <summary>
    /// Only requests without credentials, conditions, ranges or no-store wait for another request's forward:
    /// only those could have been answered with its result.
    /// </summary>
    public bool MayCoalesce
    {
        get
        {
            var headers = Request.Headers;
            return Credentials == RequestCredentials.None
                && !Directives.NoStore
                && !headers.ContainsKey(HeaderNames.IfNoneMatch) && !headers.ContainsKey(HeaderNames.IfModifiedSince)
                && !headers.ContainsKey(HeaderNames.IfMatch) && !headers.ContainsKey(HeaderNames.IfUnmodifiedSince)
                && !headers.ContainsKey(HeaderNames.Range);
        }
    }

    public DecisionInput DecisionInput(bool hitForMiss) => new(
        Rule.Bypass,
        HasBody,
        Record is not null,
        Entry is not null,
        Entry?.MayServe(Credentials) ?? false,
        View,
        Entry?.NoCache ?? false,
        Entry?.MustRevalidate ?? false,
        Entry?.StaleWhileRevalidateMs ?? -1,
        Directives,
        NoCache,
        IsHead,
        MayCoalesce,
        hitForMiss);
}

/// <summary>
/// Records a request's result: the counter (under the rule <see cref="CacheRequestContext.Create"/> matched, or
/// <see cref="CompiledRule.None"/> for a request it never saw, such as an unsafe method), the span's attributes and
/// the feature the access log reads.
/// </summary>
internal static class CacheResultRecorder
{
    public static void Record(HttpContext context, CacheMetrics metrics, CacheResult result, CacheEntry? entry = null, EntryView? view = null)
    {
        metrics.Lookup(result, (context.Features.Get<CompiledRule>() ?? CompiledRule.None).Name);
        context.Features.Set(CacheResults.Feature(result));
        var activity = Activity.Current;
        if (activity is null)
        {
            return;
        }

        if (entry is not null && view is { } v)
        {
            CacheMetrics.Annotate(result.Name(), entry.UrlHash, Freshness.AgeSeconds(v.AgeMs), v.TtlMs / 1000);
        }
        else
        {
            CacheMetrics.Annotate(result.Name(), null, null, null);
        }
    }
}
