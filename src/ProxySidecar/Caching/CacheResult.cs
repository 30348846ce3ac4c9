using System.Globalization;
using System.Text;

namespace ProxySidecar.Caching;

/// <summary>What the cache did for a request: the <c>result</c> of metrics, spans and the access log.</summary>
internal enum CacheResult
{
    /// <summary>Served from a fresh entry (also a coalesced request answered with another's result).</summary>
    Hit,

    /// <summary>Served from a stale entry (max-stale, stale-while-revalidate, stale-if-error).</summary>
    Stale,

    /// <summary>The app confirmed the stored entry (304) and it was served.</summary>
    Revalidated,

    /// <summary>Forwarded to the app; its response may or may not have been stored.</summary>
    Miss,

    /// <summary>Not handled by the cache: a Bypass rule, a method it does not cache, a request with a body.</summary>
    Bypass,

    /// <summary>Forwarded, and the response says the resource cannot be stored (remembered as hit-for-miss).</summary>
    Uncacheable,
}

/// <summary>Why a request went to the app (RFC 9211 <c>fwd</c>).</summary>
internal enum ForwardReason
{
    Bypass,
    Method,
    UriMiss,
    VaryMiss,
    Request,
    Stale,
}

/// <summary>The cache's result for the request, set by the cache (its producer) and read by the access log.</summary>
internal interface ICacheResultFeature
{
    CacheResult Result { get; }
}

internal static class CacheResults
{
    private static readonly string[] Names = ["hit", "stale", "revalidated", "miss", "bypass", "uncacheable"];
    private static readonly string[] ForwardNames = ["bypass", "method", "uri-miss", "vary-miss", "request", "stale"];
    private static readonly ResultFeature[] Features = [.. Enum.GetValues<CacheResult>().Select(r => new ResultFeature(r))];

    public static string Name(this CacheResult result) => Names[(int)result];

    public static string Name(this ForwardReason reason) => ForwardNames[(int)reason];

    /// <summary>An immutable feature per result, shared by every request that reached it.</summary>
    public static ICacheResultFeature Feature(CacheResult result) => Features[(int)result];

    private sealed class ResultFeature(CacheResult result) : ICacheResultFeature
    {
        public CacheResult Result { get; } = result;
    }
}

/// <summary>
/// Builds this cache's <c>Cache-Status</c> member (RFC 9211): the cache's name, then <c>hit</c> with <c>ttl</c>, or
/// <c>fwd</c> with <c>fwd-status</c> and <c>stored</c>, then <c>detail</c>.
/// </summary>
internal static class CacheStatusText
{
    public const string Header = "Cache-Status";

    public static string Hit(string name, long ttlMs, string? detail = null)
    {
        var text = new StringBuilder(name.Length + 32).Append(name).Append("; hit; ttl=").Append(Seconds(ttlMs));
        return Detail(text, detail);
    }

    public static string Forwarded(string name, ForwardReason reason, int? status = null, bool stored = false, string? detail = null)
    {
        var text = new StringBuilder(name.Length + 48).Append(name).Append("; fwd=").Append(reason.Name());
        if (status is { } value)
        {
            text.Append("; fwd-status=").Append(value.ToString(CultureInfo.InvariantCulture));
        }

        if (stored)
        {
            text.Append("; stored");
        }

        return Detail(text, detail);
    }

    public static string DetailOnly(string name, string detail) => name + "; detail=" + detail;

    /// <summary>Whole seconds, rounded towards zero when fresh and away from it when stale (ttl=-3 is 2–3 s past).</summary>
    public static string Seconds(long ms) => (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000)).ToString(CultureInfo.InvariantCulture);

    private static string Detail(StringBuilder text, string? detail) =>
        (detail is null ? text : text.Append("; detail=").Append(detail)).ToString();
}
