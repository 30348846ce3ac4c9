using System.Collections.Frozen;
using System.Text.RegularExpressions;

namespace ProxySidecar.Caching.Rules;

/// <summary>One rule, compiled: immutable, shared by all requests of one snapshot.</summary>
internal sealed class CompiledRule
{
    public static readonly CompiledRule None = new("(none)", null, FrozenSet<string>.Empty);

    public CompiledRule(string name, Regex? path, FrozenSet<string> methods)
    {
        Name = name;
        Path = path;
        Methods = methods;
    }

    public string Name { get; }

    public Regex? Path { get; }

    /// <summary>The path glob as configured (what operators read; <see cref="Path"/> is what matches).</summary>
    public string PathPattern { get; init; } = "/**";

    /// <summary>Upper-case methods; empty means GET and HEAD.</summary>
    public FrozenSet<string> Methods { get; }

    public bool Bypass { get; init; }

    public long? DefaultTtlMs { get; init; }

    public long? ForcedTtlMs { get; init; }

    public long? StaleWhileRevalidateMs { get; init; }

    public long? StaleIfErrorMs { get; init; }

    public string[] IgnoreQueryParameters { get; init; } = [];

    /// <summary>Lower-case request header names added to the response's Vary for the key.</summary>
    public string[] VaryHeaders { get; init; } = [];

    public bool AllowSetCookie { get; init; }

    public string[] Tags { get; init; } = [];

    public bool IgnoreClientCacheControl { get; init; }

    /// <summary>Cookie name globs that do not make a request personal under this rule (<c>*</c>: cookies do not matter here).</summary>
    public string[] IgnoreCookies { get; init; } = [];

    /// <summary>
    /// How much the rule widens what the cache keeps or shares beyond what the app's headers allow: −1 for a
    /// Bypass rule, 0 for none (the app's headers alone), one more per option that widens. When two forms of a
    /// path match different rules, the lower (stricter) one applies.
    /// </summary>
    public int Looseness => Bypass ? -1
        : (DefaultTtlMs is null ? 0 : 1) + (ForcedTtlMs is null ? 0 : 1) + (StaleWhileRevalidateMs is null ? 0 : 1)
        + (StaleIfErrorMs is null ? 0 : 1) + (AllowSetCookie ? 1 : 0) + (IgnoreClientCacheControl ? 1 : 0)
        + (IgnoreQueryParameters.Length == 0 ? 0 : 1) + (IgnoreCookies.Length == 0 ? 0 : 1);

    /// <summary>True when every cookie in <paramref name="cookieHeader"/> matches one of <see cref="IgnoreCookies"/>.</summary>
    public bool IgnoresAllCookies(Microsoft.Extensions.Primitives.StringValues cookieHeader)
    {
        if (IgnoreCookies.Length == 0)
        {
            return false;
        }

        foreach (var value in cookieHeader)
        {
            foreach (var range in (value ?? string.Empty).AsSpan().Split(';'))
            {
                var pair = (value ?? string.Empty).AsSpan()[range].Trim();
                if (pair.IsEmpty)
                {
                    continue;
                }

                var eq = pair.IndexOf('=');
                var name = (eq < 0 ? pair : pair[..eq]).Trim();
                var ignored = false;
                foreach (var pattern in IgnoreCookies)
                {
                    if (Glob.IsMatch(pattern, name))
                    {
                        ignored = true;
                        break;
                    }
                }

                if (!ignored)
                {
                    return false;
                }
            }
        }

        return true;
    }

    public bool Matches(string method, string path)
    {
        if (Methods.Count == 0)
        {
            if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
            {
                return false;
            }
        }
        else if (!Methods.Contains(method))
        {
            return false;
        }

        return Path is null || Path.IsMatch(path);
    }
}
