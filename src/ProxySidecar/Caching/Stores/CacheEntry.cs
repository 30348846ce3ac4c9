using Microsoft.Extensions.Primitives;

namespace ProxySidecar.Caching.Stores;

/// <summary>What the primary store key of a URL holds.</summary>
internal enum RecordKind : byte
{
    /// <summary>A stored response (the URL has no Vary).</summary>
    Response = 1,

    /// <summary>The Vary field names of a URL whose responses are stored per variant.</summary>
    Vary = 2,

    /// <summary>
    /// A compressed representation of a stored response's body (stored under its own key, beside the response):
    /// the coding, the fingerprint of the body it was made from, and the compressed bytes.
    /// </summary>
    Encoded = 3,
}

/// <summary>
/// A stored response, decoded. Times are Unix milliseconds (request_time and response_time of RFC 9111
/// §4.2.3); freshness and the stale windows were computed when it was stored. Immutable.
/// </summary>
internal sealed class CacheEntry
{
    public const int FlagNoCache = 1;
    public const int FlagMustRevalidate = 2;

    /// <summary>The response allowed reuse for requests with Authorization (public, s-maxage or must-revalidate).</summary>
    public const int FlagAuthorizationAllowed = 4;

    /// <summary>The response explicitly allowed sharing (public, s-maxage or the targeted field): it may answer requests with cookies or a client certificate.</summary>
    public const int FlagShared = 8;

    /// <summary>The app's response carried Set-Cookie (a rule allowed storing it; the field itself is not stored).</summary>
    public const int FlagSetCookie = 16;

    /// <summary>The response had s-maxage, which carries proxy-revalidate's meaning for a shared cache (RFC 9111 §5.2.2.10).</summary>
    public const int FlagSharedMaxAge = 32;

    public required RecordKind Kind { get; init; }

    /// <summary>Lower-case, sorted request header names the entry varies on (empty when none).</summary>
    public required string[] VaryNames { get; init; }

    public string Primary { get; init; } = string.Empty;

    public string VariantHash { get; init; } = string.Empty;

    public int Status { get; init; }

    public long RequestTimeMs { get; init; }

    public long ResponseTimeMs { get; init; }

    public long CorrectedInitialAgeMs { get; init; }

    public long LifetimeMs { get; init; }

    /// <summary>stale-while-revalidate window, −1 when none.</summary>
    public long StaleWhileRevalidateMs { get; init; } = -1;

    /// <summary>stale-if-error window, −1 when none.</summary>
    public long StaleIfErrorMs { get; init; } = -1;

    public int Flags { get; init; }

    /// <summary>Purge tags from rules and the app's Surrogate-Key (not the internal ones).</summary>
    public string[] Tags { get; init; } = [];

    public KeyValuePair<string, StringValues>[] Headers { get; init; } = [];

    public ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>
    /// What compression concluded from this entry's status and headers under one policy snapshot, kept for the next hit
    /// (the entry never changes; a new snapshot concludes again). Not part of the record: never stored or compared.
    /// </summary>
    internal object? CompressionVerdict { get; set; }

    public bool NoCache => (Flags & FlagNoCache) != 0;

    public bool MustRevalidate => (Flags & FlagMustRevalidate) != 0;

    public bool AuthorizationAllowed => (Flags & FlagAuthorizationAllowed) != 0;

    public bool Shared => (Flags & FlagShared) != 0;

    public bool HadSetCookie => (Flags & FlagSetCookie) != 0;

    /// <summary>
    /// Whether the entry may answer when the app cannot be reached (RFC 9111 §4.2.4): not when it must be validated
    /// before each use (no-cache) or once stale (must-revalidate, proxy-revalidate, s-maxage).
    /// </summary>
    public bool MayServeUnreachable => (Flags & (FlagNoCache | FlagMustRevalidate | FlagSharedMaxAge)) == 0;

    /// <summary>
    /// Whether this entry may answer a request with <paramref name="credentials"/>: Authorization only when the
    /// response allowed it (RFC 9111 §3.5), cookies and client certificates only when it explicitly allowed sharing.
    /// </summary>
    public bool MayServe(RequestCredentials credentials) =>
        ((credentials & RequestCredentials.Authorization) == 0 || AuthorizationAllowed)
        && ((credentials & ~RequestCredentials.Authorization) == 0 || Shared);

    /// <summary>
    /// Whether requests that waited for this entry's forward (coalescing) may be answered with it: it is fresh at
    /// <paramref name="nowMs"/>, needs no revalidation before each use, and its response set no cookie.
    /// </summary>
    public bool MayAnswerWaiters(long nowMs) => !NoCache && !HadSetCookie && AgeMs(nowMs) < LifetimeMs;

    /// <summary>With <see cref="RecordKind.Encoded"/>: <c>br</c> or <c>gzip</c>.</summary>
    public string Coding { get; init; } = string.Empty;

    /// <summary>With <see cref="RecordKind.Encoded"/>: the <see cref="BodyFingerprint"/> of the body it was made from.</summary>
    public string SourceFingerprint { get; init; } = string.Empty;

    /// <summary>With <see cref="RecordKind.Encoded"/>: the length of the body it was made from.</summary>
    public long SourceLength { get; init; }

    public string? ETag => Header("ETag");

    public string? LastModified => Header("Last-Modified");

    public bool HasValidators => ETag is not null || LastModified is not null;

    // Derived once per decoded entry, so a hit on a reused entry allocates none of them.
    private string? _urlHash;
    private string[]? _markerKeys;
    private string[]? _evictedMarkerKeys;

    private string? _bodyFingerprint;
    private string?[]? _encodedKeys;

    public string UrlHash => _urlHash ??= CacheKey.Hash(Primary);

    /// <summary>
    /// SHA-256 of the body (32 hex characters): what a compressed representation is bound to, so that it is used only
    /// with the very bytes it was made from. Computed once per decoded entry.
    /// </summary>
    public string BodyFingerprint => _bodyFingerprint ??= CacheKey.Fingerprint(Body.Span);

    /// <summary>The store key of this entry's representation in <paramref name="coding"/> (built once per decoded entry and coding).</summary>
    public string EncodedStoreKey(string coding, int slot)
    {
        var keys = _encodedKeys ??= new string?[2];
        return keys[slot] ??= CacheKey.EncodedStoreKey(Primary, VariantHash, coding, BodyFingerprint);
    }

    /// <summary>The soft-purge marker keys that apply to this entry (all, URL, each tag).</summary>
    public string[] MarkerKeys => _markerKeys ??= CacheTags.MarkerKeysFor(UrlHash, Tags);

    /// <summary>The hard-purge marker keys that apply to this entry (all, URL, each tag).</summary>
    public string[] EvictedMarkerKeys => _evictedMarkerKeys ??= CacheTags.EvictedMarkerKeysFor(UrlHash, Tags);

    public string? Header(string name)
    {
        foreach (var header in Headers)
        {
            if (header.Key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return header.Value.ToString();
            }
        }

        return null;
    }

    /// <summary>current_age at <paramref name="nowMs"/>.</summary>
    public long AgeMs(long nowMs) => Freshness.CurrentAge(CorrectedInitialAgeMs, ResponseTimeMs, nowMs);
}
