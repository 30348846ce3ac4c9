namespace ProxySidecar.Caching.Stores;

/// <summary>
/// How store tags and soft-purge markers are named. Every replica sharing a store must agree on these.
/// <list type="bullet">
/// <item>Tags on every entry: <c>psc1:all</c>; <c>psc1:url:{h}</c> where {h} is <see cref="CacheKey.Hash"/> of the
/// primary key (all variants of a URL share it); <c>psc1:tag:{t}</c> per rule tag and per Surrogate-Key tag.</item>
/// <item>Soft-purge markers: store keys <c>psc1:purge:all</c>, <c>psc1:purge:url:{h}</c>, <c>psc1:purge:tag:{t}</c>,
/// value = the purge time as 8 bytes big-endian Unix milliseconds, kept for MaxEntryLifetime. An entry whose
/// response_time is at or before a marker that applies to it is treated as stale from the marker's time on.</item>
/// <item>Hard-purge (eviction) markers: <c>psc1:evicted:all</c>, <c>psc1:evicted:url:{h}</c>, <c>psc1:evicted:tag:{t}</c>,
/// the same value and lifetime. A hard purge writes one before it evicts; an entry whose response_time is at or
/// before one that applies to it is not served (it was written after the eviction from a response fetched before
/// the purge: the store write follows the client's response).</item>
/// </list>
/// </summary>
internal static class CacheTags
{
    public const string All = CacheKey.Prefix + "all";

    public static string Url(string urlHash) => CacheKey.Prefix + "url:" + urlHash;

    private const string TagPrefix = CacheKey.Prefix + "tag:";
    private const string TagMarkerPrefix = CacheKey.Prefix + "purge:tag:";
    private const string TagEvictedMarkerPrefix = CacheKey.Prefix + "evicted:tag:";

    public static string Tag(string tag) => TagPrefix + tag;

    public const string AllMarker = CacheKey.Prefix + "purge:all";

    public static string UrlMarker(string urlHash) => CacheKey.Prefix + "purge:url:" + urlHash;

    public static string TagMarker(string tag) => TagMarkerPrefix + tag;

    public const string AllEvictedMarker = CacheKey.Prefix + "evicted:all";

    public static string UrlEvictedMarker(string urlHash) => CacheKey.Prefix + "evicted:url:" + urlHash;

    public static string TagEvictedMarker(string tag) => TagEvictedMarkerPrefix + tag;

    public static string[] MarkerKeysFor(string urlHash, string[] tags) => KeysFor(AllMarker, UrlMarker(urlHash), TagMarkerPrefix, tags);

    public static string[] EvictedMarkerKeysFor(string urlHash, string[] tags) => KeysFor(AllEvictedMarker, UrlEvictedMarker(urlHash), TagEvictedMarkerPrefix, tags);

    public static string[] StoreTagsFor(string urlHash, string[] tags) => KeysFor(All, Url(urlHash), TagPrefix, tags);

    /// <summary>The key for all, the URL's, then <paramref name="tagPrefix"/> + each tag.</summary>
    private static string[] KeysFor(string all, string url, string tagPrefix, string[] tags)
    {
        var keys = new string[2 + tags.Length];
        keys[0] = all;
        keys[1] = url;
        for (var i = 0; i < tags.Length; i++)
        {
            keys[2 + i] = tagPrefix + tags[i];
        }

        return keys;
    }
}
