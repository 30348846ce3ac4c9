using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>Conditional requests (RFC 9110 §13): the cache's own towards the app, and the client's towards the cache.</summary>
internal static class Validators
{
    /// <summary>The request's conditional header fields (RFC 9110 §13.1).</summary>
    public static readonly string[] ConditionalHeaders =
        [HeaderNames.IfNoneMatch, HeaderNames.IfModifiedSince, HeaderNames.IfMatch, HeaderNames.IfUnmodifiedSince, HeaderNames.IfRange];

    public static bool IsConditionalHeader(string name)
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

    /// <summary>Replaces the request's conditions with the entry's validators, so that a 304 refers to the stored entry.</summary>
    public static void SetValidators(IHeaderDictionary headers, CacheEntry entry)
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

    /// <summary>RFC 9110 §13.2.2 for a cache: If-None-Match (weak comparison) first, else If-Modified-Since.</summary>
    public static bool ClientConditionMatches(HttpRequest request, CacheEntry entry)
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

    /// <summary>The client's conditional request headers, kept aside while the cache revalidates.</summary>
    public sealed record ClientConditions(StringValues IfNoneMatch, StringValues IfModifiedSince, StringValues IfMatch, StringValues IfUnmodifiedSince, StringValues IfRange)
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
}
