namespace ProxySidecar.Caching;

/// <summary>
/// Freshness and age arithmetic of RFC 9111 §4.2, pure so it can be tested in isolation.
/// All times are Unix milliseconds; lifetimes and ages are milliseconds.
/// </summary>
internal static class Freshness
{
    /// <summary>Statuses a cache may store with heuristic freshness (RFC 9110 §15.1; 206 is left out: ranges are not cached).</summary>
    public static bool IsHeuristicallyCacheable(int status) =>
        status is 200 or 203 or 204 or 300 or 301 or 308 or 404 or 405 or 410 or 414 or 501;

    /// <summary>
    /// Explicit freshness lifetime (§4.2.1): s-maxage, then max-age, then Expires − Date; null when the
    /// response gives none. An Expires that is not one HTTP-date (several lines, or any other value) counts as
    /// already expired (§5.3).
    /// </summary>
    public static long? ExplicitLifetimeOfFields(in CacheControl directives, Microsoft.Extensions.Primitives.StringValues expires, long? dateMs, long responseTimeMs)
    {
        if (directives.SharedMaxAge is { } shared)
        {
            return shared * 1000L;
        }

        if (directives.MaxAge is { } maxAge)
        {
            return maxAge * 1000L;
        }

        if (expires.Count > 0)
        {
            if (expires.Count > 1 || !TryParseDate(expires[0], out var expiresMs))
            {
                return 0;
            }

            return Math.Max(0, expiresMs - (dateMs ?? responseTimeMs));
        }

        return null;
    }

    /// <summary>As <see cref="ExplicitLifetimeOfFields"/>, for at most one Expires value.</summary>
    public static long? ExplicitLifetime(in CacheControl directives, string? expires, long? dateMs, long responseTimeMs) =>
        ExplicitLifetimeOfFields(directives, new Microsoft.Extensions.Primitives.StringValues(expires), dateMs, responseTimeMs);

    /// <summary>Heuristic lifetime (§4.2.2): <paramref name="fraction"/> of Date − Last-Modified, at most <paramref name="maxMs"/>.</summary>
    public static long HeuristicLifetime(long? dateMs, long responseTimeMs, long lastModifiedMs, double fraction, long maxMs)
    {
        var interval = (dateMs ?? responseTimeMs) - lastModifiedMs;
        if (interval <= 0)
        {
            return 0;
        }

        return Math.Min((long)(interval * fraction), maxMs);
    }

    /// <summary>corrected_initial_age of §4.2.3.</summary>
    public static long CorrectedInitialAge(long? ageSeconds, long? dateMs, long requestTimeMs, long responseTimeMs)
    {
        var apparentAge = Math.Max(0, responseTimeMs - (dateMs ?? responseTimeMs));
        var responseDelay = Math.Max(0, responseTimeMs - requestTimeMs);
        var correctedAgeValue = ((ageSeconds ?? 0) * 1000) + responseDelay;
        return Math.Max(apparentAge, correctedAgeValue);
    }

    /// <summary>current_age of §4.2.3: corrected_initial_age + resident_time.</summary>
    public static long CurrentAge(long correctedInitialAgeMs, long responseTimeMs, long nowMs) =>
        correctedInitialAgeMs + Math.Max(0, nowMs - responseTimeMs);

    /// <summary>The Age field value: whole seconds, never negative.</summary>
    public static long AgeSeconds(long currentAgeMs) => Math.Max(0, currentAgeMs / 1000);

    /// <summary>Parses an HTTP-date (IMF-fixdate and the two obsolete forms, strictly: <see cref="HttpDate"/>) to Unix milliseconds.</summary>
    public static bool TryParseDate(string? value, out long unixMs)
    {
        unixMs = 0;
        return value is not null && HttpDate.TryParse(value, out unixMs);
    }

    /// <summary>The Age field as seconds; null when absent or invalid.</summary>
    public static long? ParseAge(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        var comma = value.IndexOf(',', StringComparison.Ordinal);
        var seconds = CacheControl.Seconds(true, (comma < 0 ? value : value[..comma]).AsSpan().Trim());
        return seconds;
    }
}
