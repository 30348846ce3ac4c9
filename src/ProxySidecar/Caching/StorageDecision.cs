using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching;

/// <summary>Whether a response may be stored by a shared cache (RFC 9111 §3), and with which freshness.</summary>
internal readonly record struct StorageDecision(
    bool Store,
    string? Detail,
    bool ResponseReason,
    long LifetimeMs,
    long CorrectedInitialAgeMs,
    long StaleWhileRevalidateMs,
    long StaleIfErrorMs,
    int Flags,
    string[] VaryNames)
{
    public static StorageDecision No(string detail, bool responseReason) => new(false, detail, responseReason, 0, 0, -1, -1, 0, []);

    /// <summary>
    /// Decides for a response to GET. <paramref name="targeted"/> is the RFC 9213 targeted field's value when the
    /// policy names one and the app sent it (it then replaces Cache-Control and Expires).
    /// </summary>
    public static StorageDecision Evaluate(
        int status,
        IHeaderDictionary responseHeaders,
        RequestCredentials credentials,
        bool requestNoStore,
        CompiledRule rule,
        CachePolicy policy,
        long requestTimeMs,
        long responseTimeMs)
    {
        if (requestNoStore)
        {
            return No("request-no-store", false);
        }

        // The targeted field replaces Cache-Control and Expires when it is a valid Structured Field (RFC 9213).
        var targeted = false;
        CacheControl directives = default;
        if (policy.TargetedCacheControlHeader is { } targetedName && responseHeaders.TryGetValue(targetedName, out var targetedValues) && targetedValues.Count > 0)
        {
            targeted = TargetedCacheControl.TryParse(targetedValues.ToString(), out directives);
        }

        if (!targeted)
        {
            directives = CacheControl.Parse(responseHeaders.CacheControl);
        }

        var expires = targeted ? default : responseHeaders.Expires;
        long? dateMs = Freshness.TryParseDate(FirstOrNull(responseHeaders.Date), out var date) ? date : null;
        var explicitLifetime = Freshness.ExplicitLifetimeOfFields(directives, expires, dateMs, responseTimeMs);
        var heuristicable = Freshness.IsHeuristicallyCacheable(status) || directives.Public;

        // A 206 or 304 answers this request's Range or conditions: it says nothing about whether the
        // resource is cacheable, so it must not mark the URL uncacheable (hit-for-miss).
        if (status is 206 or 304)
        {
            return No("status", false);
        }

        if (status < 200 || (!heuristicable && explicitLifetime is null))
        {
            return No("status", true);
        }

        if (directives.NoStore)
        {
            return No("no-store", true);
        }

        if (directives.Private)
        {
            return No("private", true);
        }

        // Shared explicitly: public, s-maxage, or the targeted field, which speaks to shared caches only.
        var shared = directives.Public || directives.SharedMaxAge is not null || targeted;
        var authorizationAllowed = directives.Public || directives.SharedMaxAge is not null || directives.MustRevalidate;

        // A response to a request with credentials is stored only when it explicitly allows sharing (RFC 9111 §3.5
        // for Authorization; the same for cookies and client certificates). It says nothing of the URL for
        // requests without them, so it does not mark the URL uncacheable.
        if ((credentials & RequestCredentials.Authorization) != 0 && !authorizationAllowed)
        {
            return No("authorization", false);
        }

        if ((credentials & ~RequestCredentials.Authorization) != 0 && !shared)
        {
            return No("credentials", false);
        }

        if (responseHeaders.ContainsKey(HeaderNames.SetCookie) && !rule.AllowSetCookie)
        {
            return No("set-cookie", true);
        }

        var vary = CacheKey.VaryNames(responseHeaders.Vary, rule.VaryHeaders);
        if (vary is null)
        {
            return No("vary-star", true);
        }

        if (responseHeaders.ContentLength is { } length && length > policy.MaxEntryBytes)
        {
            return No("too-large", true);
        }

        long lifetime;
        if (rule.ForcedTtlMs is { } forced)
        {
            lifetime = forced;
        }
        else if (explicitLifetime is { } explicitValue)
        {
            lifetime = explicitValue;
        }
        else if (rule.DefaultTtlMs is { } fallback)
        {
            lifetime = fallback;
        }
        else if (policy.HeuristicFreshness && Freshness.TryParseDate(FirstOrNull(responseHeaders.LastModified), out var lastModified))
        {
            lifetime = Freshness.HeuristicLifetime(dateMs, responseTimeMs, lastModified, 0.1, policy.HeuristicMaxAgeMs);
        }
        else
        {
            lifetime = 0;
        }

        var hasValidators = responseHeaders.ContainsKey(HeaderNames.ETag) || responseHeaders.ContainsKey(HeaderNames.LastModified);
        if (!hasValidators && (lifetime <= 0 || directives.NoCache))
        {
            return No(directives.NoCache ? "no-cache-without-validator" : "no-freshness", true);
        }

        var swr = directives.StaleWhileRevalidate is { } s ? s * 1000L : rule.StaleWhileRevalidateMs ?? -1;
        var sie = directives.StaleIfError is { } e ? e * 1000L : rule.StaleIfErrorMs ?? -1;
        var flags = (directives.NoCache ? Stores.CacheEntry.FlagNoCache : 0)
            | (directives.MustRevalidate || directives.ProxyRevalidate ? Stores.CacheEntry.FlagMustRevalidate : 0)
            | (authorizationAllowed ? Stores.CacheEntry.FlagAuthorizationAllowed : 0)
            | (shared ? Stores.CacheEntry.FlagShared : 0)
            | (responseHeaders.ContainsKey(HeaderNames.SetCookie) ? Stores.CacheEntry.FlagSetCookie : 0)
            | (directives.SharedMaxAge is not null ? Stores.CacheEntry.FlagSharedMaxAge : 0);
        var initialAge = Freshness.CorrectedInitialAge(Freshness.ParseAge(FirstOrNull(responseHeaders.Age)), dateMs, requestTimeMs, responseTimeMs);
        return new StorageDecision(true, null, false, lifetime, initialAge, swr, sie, flags, vary);
    }

    /// <summary>How long the store keeps the entry: the rest of its freshness plus the longest window it may still be used in.</summary>
    public TimeSpan ValidFor(CachePolicy policy, bool hasValidators)
    {
        var remaining = Math.Max(0, LifetimeMs - CorrectedInitialAgeMs);
        var unreachable = (Flags & (Stores.CacheEntry.FlagNoCache | Stores.CacheEntry.FlagMustRevalidate | Stores.CacheEntry.FlagSharedMaxAge)) == 0 ? policy.StaleIfUnreachableMs : 0;
        var extra = Math.Max(Math.Max(Math.Max(StaleWhileRevalidateMs, StaleIfErrorMs), unreachable), hasValidators ? policy.KeepStaleForMs : 0);
        var total = Math.Clamp(remaining + Math.Max(0, extra), 1000, policy.MaxEntryLifetimeMs);
        return TimeSpan.FromMilliseconds(total);
    }

    private static string? FirstOrNull(Microsoft.Extensions.Primitives.StringValues values) => values.Count == 0 ? null : values[0];
}
