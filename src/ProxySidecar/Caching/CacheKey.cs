using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching;

/// <summary>
/// Keys: the primary key is <c>scheme://host/path?query</c> with the host lower-cased and the request target
/// (path and query) as the client sent it, which is what the app receives: only what RFC 3986 §6.2.2 calls
/// equivalent is normalised (the hex digits of a percent-escape upper-cased, escaped unreserved characters
/// decoded), so <c>%3F</c>, <c>%23</c>, <c>%25</c> and <c>%2F</c> stay distinct from <c>?</c>, <c>#</c>,
/// <c>%</c> and <c>/</c>, and the path keeps its case. The query loses only the parameters a rule ignores.
/// Variants (Vary) add a hash of the normalised values of the named request headers.
/// </summary>
internal static class CacheKey
{
    /// <summary>Prefix of every store key and tag this cache writes (the format version is part of it).</summary>
    public const string Prefix = "psc1:";

    public static string Primary(HttpRequest request, CompiledRule rule)
    {
        var (path, query) = SplitTarget(Target(request));
        return Primary(request.Scheme, request.Host.Value ?? string.Empty, path, query, rule.IgnoreQueryParameters);
    }

    /// <summary>An origin-form target split at its first '?' (the query keeps it).</summary>
    public static (string Path, string? Query) SplitTarget(string target)
    {
        var queryStart = target.IndexOf('?', StringComparison.Ordinal);
        return queryStart < 0 ? (target, null) : (target[..queryStart], target[queryStart..]);
    }

    /// <summary>
    /// The request target as sent (origin-form: path and query). A target in another form (absolute-form) is
    /// rebuilt from the decoded path the way the forwarder rebuilds it for the app.
    /// </summary>
    public static string Target(HttpRequest request)
    {
        var raw = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (string.IsNullOrEmpty(raw) || raw[0] != '/')
        {
            return request.PathBase.ToUriComponent() + request.Path.ToUriComponent() + request.QueryString.ToUriComponent();
        }

        return raw;
    }

    /// <summary>The primary key a GET of <paramref name="url"/> would have under <paramref name="policy"/> (purge, invalidation by Location).</summary>
    public static string PrimaryFor(Uri url, CachePolicy policy) =>
        Primary(url, policy.Match(HttpMethods.Get, PathString.FromUriComponent(SplitTarget(url.PathAndQuery).Path).Value ?? "/").IgnoreQueryParameters);

    /// <summary>The primary key of an absolute URL, as a request for it would have it.</summary>
    public static string Primary(Uri url, string[] ignoredParameters)
    {
        // Uri reports the scheme's default port in its authority, but a request for it has none in its Host header.
        var authority = HostString.FromUriComponent(url);
        var host = (url.IsDefaultPort ? authority.Host : authority.Value) ?? url.Authority;
        var (path, query) = SplitTarget(url.PathAndQuery);
        return Primary(url.Scheme, host, path, query, ignoredParameters);
    }

    public static string Primary(string scheme, string host, string? path, string? query, string[] ignoredParameters)
    {
        path = string.IsNullOrEmpty(path) ? "/" : NormaliseEscapes(path);
        query = string.IsNullOrEmpty(query) ? string.Empty : NormaliseEscapes(query);
        if (ignoredParameters.Length > 0 && query.Length > 0)
        {
            query = FilterQuery(query, ignoredParameters);
        }

        return string.Create(scheme.Length + 3 + host.Length + path.Length + query.Length, (scheme, host, path, query), static (span, s) =>
        {
            s.scheme.AsSpan().ToLowerInvariant(span);
            var i = s.scheme.Length;
            "://".AsSpan().CopyTo(span[i..]);
            i += 3;
            s.host.AsSpan().ToLowerInvariant(span[i..]);
            i += s.host.Length;
            s.path.AsSpan().CopyTo(span[i..]);
            i += s.path.Length;
            s.query.AsSpan().CopyTo(span[i..]);
        });
    }

    /// <summary>
    /// RFC 3986 §6.2.2.1–2: upper-cases the hex digits of every percent-escape and decodes the escapes of unreserved
    /// characters (ALPHA, DIGIT, '-', '.', '_', '~'); nothing else changes. Returns <paramref name="text"/> itself when
    /// there is nothing to change.
    /// </summary>
    public static string NormaliseEscapes(string text)
    {
        var percent = text.IndexOf('%', StringComparison.Ordinal);
        if (percent < 0)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        builder.Append(text, 0, percent);
        var changed = false;
        for (var i = percent; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '%' || i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2]))
            {
                builder.Append(c);
                continue;
            }

            var value = (char)((HexValue(text[i + 1]) << 4) | HexValue(text[i + 2]));
            if (char.IsAsciiLetterOrDigit(value) || value is '-' or '.' or '_' or '~')
            {
                builder.Append(value);
                changed = true;
            }
            else
            {
                var upper1 = char.ToUpperInvariant(text[i + 1]);
                var upper2 = char.ToUpperInvariant(text[i + 2]);
                changed |= upper1 != text[i + 1] || upper2 != text[i + 2];
                builder.Append('%').Append(upper1).Append(upper2);
            }

            i += 2;
        }

        return changed ? builder.ToString() : text;
    }

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    /// <summary>The query without the parameters matching <paramref name="ignored"/>; order kept; "" when none remain.</summary>
    public static string FilterQuery(string query, string[] ignored)
    {
        var text = query.AsSpan(query.StartsWith('?') ? 1 : 0);
        var builder = new StringBuilder(query.Length);
        var dropped = false;
        foreach (var range in text.Split('&'))
        {
            var pair = text[range];
            if (pair.IsEmpty)
            {
                continue;
            }

            var eq = pair.IndexOf('=');
            var name = eq < 0 ? pair : pair[..eq];
            var ignore = false;
            foreach (var pattern in ignored)
            {
                if (Glob.IsMatch(pattern, Uri.UnescapeDataString(name.ToString())))
                {
                    ignore = true;
                    break;
                }
            }

            if (ignore)
            {
                dropped = true;
                continue;
            }

            builder.Append(builder.Length == 0 ? '?' : '&').Append(pair);
        }

        return dropped ? builder.ToString() : query;
    }

    /// <summary>Short stable hash of a key (16 hex characters of SHA-256): tags, markers, telemetry. Never the raw key.</summary>
    public static string Hash(string key)
    {
        Span<byte> hash = stackalloc byte[32];
        var byteCount = Encoding.UTF8.GetByteCount(key);
        var buffer = byteCount <= 512 ? stackalloc byte[byteCount] : new byte[byteCount];
        Encoding.UTF8.GetBytes(key, buffer);
        SHA256.HashData(buffer, hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    /// <summary>Store key of the primary record (an entry, or the Vary names of a URL with variants).</summary>
    public static string PrimaryStoreKey(string primary) => Prefix + "e:" + primary;

    /// <summary>Store key of one variant.</summary>
    public static string VariantStoreKey(string primary, string variantHash) => Prefix + "e:" + primary + "#" + variantHash;

    /// <summary>
    /// Store key of a compressed representation: the entry's key, the coding and the fingerprint of the body it was made
    /// from. A changed body has another fingerprint, so it never meets a representation of the old one.
    /// </summary>
    public static string EncodedStoreKey(string primary, string variantHash, string coding, string fingerprint) =>
        Prefix + "z:" + primary + "#" + variantHash + "~" + coding + "~" + fingerprint;

    /// <summary>SHA-256 of <paramref name="bytes"/>, 16 bytes as 32 lower-case hex characters.</summary>
    public static string Fingerprint(ReadOnlySpan<byte> bytes)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(bytes, hash);
        return Convert.ToHexStringLower(hash[..16]);
    }

    /// <summary>
    /// The variant hash for <paramref name="varyNames"/> (lower-case, sorted) from the request's headers,
    /// each value normalised: comma-separated members trimmed, inner whitespace collapsed; Accept-Encoding
    /// members lower-cased and sorted. An absent header differs from an empty one.
    /// </summary>
    public static string VariantHash(string[] varyNames, IHeaderDictionary headers)
    {
        var text = new StringBuilder();
        foreach (var name in varyNames)
        {
            text.Append(name).Append(':');
            if (headers.TryGetValue(name, out var values))
            {
                text.Append(NormaliseValue(name, values));
            }
            else
            {
                text.Append('\0');
            }

            text.Append('\n');
        }

        return Hash(text.ToString());
    }

    public static string NormaliseValue(string name, StringValues values)
    {
        var members = new List<string>();
        foreach (var value in values)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var member in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                members.Add(CollapseWhitespace(member));
            }
        }

        if (name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase) || name.Equals("accept-language", StringComparison.OrdinalIgnoreCase))
        {
            return NormalisePreferences(members);
        }

        return string.Join(',', members);
    }

    /// <summary>
    /// Accept-Encoding and Accept-Language lists compared as the preferences they state: each member lower-cased and
    /// stripped of whitespace, its weight canonical (<c>q=1</c> dropped, <c>q=0.50</c> as <c>q=0.5</c>), the members
    /// sorted by weight and then by name. <c>en-US,en;q=0.8</c> and <c>en;q=0.80, EN-us</c> are one variant.
    /// </summary>
    private static string NormalisePreferences(List<string> members)
    {
        var weighted = new List<(string Name, decimal Weight)>(members.Count);
        foreach (var member in members)
        {
            var compact = member.Replace(" ", string.Empty, StringComparison.Ordinal).Replace("\t", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
            var semicolon = compact.IndexOf(';', StringComparison.Ordinal);
            var weight = 1m;
            if (semicolon >= 0)
            {
                var parameter = compact[(semicolon + 1)..];
                if (!parameter.StartsWith("q=", StringComparison.Ordinal)
                    || !decimal.TryParse(parameter[2..], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out weight))
                {
                    // Not a plain weight: keep the member as written, it still tells variants apart.
                    weighted.Add((compact, -1m));
                    continue;
                }

                compact = compact[..semicolon];
            }

            weighted.Add((compact, weight));
        }

        weighted.Sort((a, b) => a.Weight != b.Weight ? b.Weight.CompareTo(a.Weight) : string.CompareOrdinal(a.Name, b.Name));
        return string.Join(',', weighted.Select(w => w.Weight == 1m ? w.Name : w.Weight < 0 ? w.Name : w.Name + ";q=" + w.Weight.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>Lower-case, de-duplicated, sorted field names of Vary plus the rule's extra headers; null for <c>Vary: *</c>.</summary>
    public static string[]? VaryNames(StringValues vary, string[] extra)
    {
        if (vary.Count == 0 && extra.Length == 0)
        {
            return [];
        }

        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var value in vary)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var name in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (name == "*")
                {
                    return null;
                }

                names.Add(name.ToLowerInvariant());
            }
        }

        foreach (var name in extra)
        {
            names.Add(name);
        }

        return [.. names];
    }

    private static string CollapseWhitespace(string value)
    {
        if (!value.Contains("  ", StringComparison.Ordinal) && !value.Contains('\t', StringComparison.Ordinal))
        {
            return value;
        }

        var builder = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value)
        {
            if (c is ' ' or '\t')
            {
                space = true;
                continue;
            }

            if (space && builder.Length > 0)
            {
                builder.Append(' ');
            }

            space = false;
            builder.Append(c);
        }

        return builder.ToString();
    }
}
