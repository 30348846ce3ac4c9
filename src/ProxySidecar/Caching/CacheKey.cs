using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching;

/// <summary>
/// Keys: the primary key is <c>scheme://host/path?query</c> with the host lower-cased, the path exactly as
/// the app sees it (case-sensitive) and the full query string minus the parameters a rule ignores.
/// Variants (Vary) add a hash of the normalised values of the named request headers.
/// </summary>
internal static class CacheKey
{
    /// <summary>Prefix of every store key and tag this cache writes (the format version is part of it).</summary>
    public const string Prefix = "psc1:";

    public static string Primary(HttpRequest request, CompiledRule rule) =>
        Primary(request.Scheme, request.Host.Value ?? string.Empty, request.PathBase.Value + request.Path.Value, request.QueryString.Value, rule.IgnoreQueryParameters);

    public static string Primary(string scheme, string host, string? path, string? query, string[] ignoredParameters)
    {
        if (ignoredParameters.Length > 0 && !string.IsNullOrEmpty(query))
        {
            query = FilterQuery(query, ignoredParameters);
        }

        path = string.IsNullOrEmpty(path) ? "/" : path;
        query ??= string.Empty;
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

        if (name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase))
        {
            for (var i = 0; i < members.Count; i++)
            {
                members[i] = members[i].Replace(" ", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
            }

            members.Sort(StringComparer.Ordinal);
        }

        return string.Join(',', members);
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
