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
