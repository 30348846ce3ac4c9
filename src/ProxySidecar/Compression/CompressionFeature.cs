using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Compression;

/// <summary>What to do with one response: add <c>Vary: Accept-Encoding</c>, and which coding to send.</summary>
internal readonly record struct EncodingPlan(bool Vary, ContentCoding Coding)
{
    public static readonly EncodingPlan None = new(false, ContentCoding.Identity);
}

/// <summary>Compression's conclusion about a stored entry under one policy snapshot and rule.</summary>
internal sealed record EntryVerdict(CompressionPolicy Policy, CompressionRule Rule, bool Allows);

/// <summary>
/// Compression's view of one request, set by <see cref="CompressionMiddleware"/> for the cache to read: the policy
/// snapshot and rule, the coding the client accepts (identity when the request rules compression out), whether the
/// request carries credentials, and the client's validators that named a compressed representation.
/// </summary>
internal sealed class CompressionFeature
{
    public CompressionFeature(CompressionPolicy policy, CompressionRule rule, ContentCoding accepted, bool credentials, List<(string AppTag, ContentCoding Coding)>? mappedTags)
    {
        Policy = policy;
        Rule = rule;
        Accepted = accepted;
        Credentials = credentials;
        MappedTags = mappedTags;
    }

    public CompressionPolicy Policy { get; }

    public CompressionRule Rule { get; }

    /// <summary>The coding the request allows: the client's choice, or identity for HEAD, Range, no-transform and the like.</summary>
    public ContentCoding Accepted { get; }

    /// <summary>The request carries Cookie, Authorization or a client certificate.</summary>
    public bool Credentials { get; }

    /// <summary>If-None-Match tags that named a compressed representation, mapped back to the app's tags.</summary>
    public List<(string AppTag, ContentCoding Coding)>? MappedTags { get; }

    /// <summary>The cache answers this request itself: the streaming compressor stays out of it.</summary>
    public bool AnsweredByCache { get; private set; }

    public void MarkAnsweredByCache() => AnsweredByCache = true;

    /// <summary>
    /// The plan for a stored entry. A stored entry is shared by construction (it may answer other requests), so it holds
    /// nothing one user's credentials unlocked and is compressed whatever the request carries.
    /// </summary>
    public EncodingPlan PlanFor(CacheEntry entry) => Allows(entry) ? new EncodingPlan(true, Accepted) : EncodingPlan.None;

    /// <summary>Whether the stored response may be compressed under this policy and rule: worked out on the first hit, then kept on the entry.</summary>
    private bool Allows(CacheEntry entry)
    {
        if (entry.CompressionVerdict is EntryVerdict verdict && ReferenceEquals(verdict.Policy, Policy) && ReferenceEquals(verdict.Rule, Rule))
        {
            return verdict.Allows;
        }

        string? contentType = null;
        var contentEncoding = false;
        var contentRange = false;
        var noTransform = false;
        foreach (var (name, value) in entry.Headers)
        {
            if (name.Equals(HeaderNames.ContentType, StringComparison.OrdinalIgnoreCase))
            {
                contentType = value.Count > 0 ? value[0] : null;
            }
            else if (name.Equals(HeaderNames.ContentEncoding, StringComparison.OrdinalIgnoreCase))
            {
                contentEncoding = true;
            }
            else if (name.Equals(HeaderNames.ContentRange, StringComparison.OrdinalIgnoreCase))
            {
                contentRange = true;
            }
            else if (name.Equals(HeaderNames.CacheControl, StringComparison.OrdinalIgnoreCase))
            {
                noTransform |= Compressibility.HasNoTransform(value);
            }
        }

        var allows = Compressibility.ResponseAllows(entry.Status, contentType, contentEncoding, contentRange, noTransform, entry.Body.Length, Policy, Rule);
        entry.CompressionVerdict = new EntryVerdict(Policy, Rule, allows);
        return allows;
    }

    /// <summary>The plan for a response passing through, from its status and headers as they start.</summary>
    public EncodingPlan PlanFor(HttpResponse response)
    {
        var headers = response.Headers;
        var contentType = headers.ContentType;
        if (!Compressibility.ResponseAllows(
            response.StatusCode,
            contentType.Count > 0 ? contentType[0] : null,
            headers.ContainsKey(HeaderNames.ContentEncoding),
            headers.ContainsKey(HeaderNames.ContentRange),
            Compressibility.HasNoTransform(headers.CacheControl),
            headers.ContentLength,
            Policy,
            Rule))
        {
            return EncodingPlan.None;
        }

        // BREACH: a response to a request with credentials may hold a secret beside input an attacker reflects.
        var coding = Credentials && !Rule.CompressWithCredentials ? ContentCoding.Identity : Accepted;
        return new EncodingPlan(true, coding);
    }

    /// <summary>The tag a 304 carries: the app's tag with the coding of the client's matching validator, if it named one.</summary>
    public string? NotModifiedTag(string appTag, ContentCoding fallback) =>
        EncodedValidators.For(appTag, EncodedValidators.CodingOfClientTag(MappedTags, appTag) ?? fallback);

    /// <summary>Adds <c>Accept-Encoding</c> to the response's Vary, unless it is already named or Vary is <c>*</c>.</summary>
    public static void AddVary(IHeaderDictionary headers)
    {
        var vary = headers.Vary;
        foreach (var value in vary)
        {
            foreach (var range in (value ?? string.Empty).AsSpan().Split(','))
            {
                var name = (value ?? string.Empty).AsSpan()[range].Trim();
                if (name.Equals(HeaderNames.AcceptEncoding, StringComparison.OrdinalIgnoreCase) || name is "*")
                {
                    return;
                }
            }
        }

        headers.Vary = vary.Count == 0 ? new StringValues(HeaderNames.AcceptEncoding) : StringValues.Concat(vary, HeaderNames.AcceptEncoding);
    }

    /// <summary>The fields a compressed response must not carry from the app's: its length, ranges and digests describe the app's bytes.</summary>
    public static bool IsIdentityOnlyHeader(string name) =>
        name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.AcceptRanges, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentMD5, StringComparison.OrdinalIgnoreCase)
        || name.Equals("Content-Digest", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Repr-Digest", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Digest", StringComparison.OrdinalIgnoreCase);
}

/// <summary>The rules about which responses may be compressed, apart from the client's choice.</summary>
internal static class Compressibility
{
    /// <summary>
    /// The response side: a status with content (not 1xx, 204, 205, 206, 304), no Content-Encoding of the app's, no
    /// Content-Range, no <c>no-transform</c>, a listed media type, and not shorter than the rule's minimum (a body of
    /// unknown length may be).
    /// </summary>
    public static bool ResponseAllows(int status, string? contentType, bool contentEncoding, bool contentRange, bool noTransform, long? length, CompressionPolicy policy, CompressionRule rule) =>
        status >= 200 && status is not (204 or 205 or 206 or 304)
        && !contentEncoding && !contentRange && !noTransform
        && (length is not { } known || (known > 0 && known >= rule.MinimumBytes))
        && policy.MediaTypes.Matches(contentType);

    /// <summary>
    /// The request side: the coding the client accepts, or identity for a HEAD, a Range request (ranges are of the app's
    /// bytes), <c>Cache-Control: no-transform</c> and gRPC.
    /// </summary>
    public static ContentCoding Accepted(HttpRequest request)
    {
        var headers = request.Headers;
        if (HttpMethods.IsHead(request.Method) || headers.ContainsKey(HeaderNames.Range) || HasNoTransform(headers.CacheControl)
            || (headers.ContentType.Count > 0 && MediaTypes.IsNever(MediaTypes.MediaTypeOf(headers.ContentType[0] ?? string.Empty))))
        {
            return ContentCoding.Identity;
        }

        return ContentCodings.Negotiate(headers.AcceptEncoding);
    }

    /// <summary>Cookie, Authorization or a client certificate (the credentials the cache knows, every cookie counted).</summary>
    public static bool HasCredentials(HttpContext context)
    {
        var headers = context.Request.Headers;
        return headers.ContainsKey(HeaderNames.Authorization)
            || (headers.TryGetValue(HeaderNames.Cookie, out var cookie) && !string.IsNullOrWhiteSpace(cookie.ToString()))
            || context.Connection.ClientCertificate is not null;
    }

    /// <summary>RFC 9111 §5.2: a <c>no-transform</c> directive among the Cache-Control members.</summary>
    public static bool HasNoTransform(StringValues cacheControl)
    {
        foreach (var value in cacheControl)
        {
            if (value is null || !value.Contains("no-transform", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var range in value.AsSpan().Split(','))
            {
                var member = value.AsSpan()[range].Trim();
                var equals = member.IndexOf('=');
                if ((equals < 0 ? member : member[..equals]).Trim().Equals("no-transform", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
