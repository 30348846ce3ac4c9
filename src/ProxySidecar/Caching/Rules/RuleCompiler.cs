using System.Collections.Frozen;
using System.Globalization;

namespace ProxySidecar.Caching.Rules;

/// <summary>Turns <see cref="CacheRuleOptions"/> into <see cref="CompiledRule"/>s; validation names every bad key.</summary>
internal static class RuleCompiler
{
    public static void Validate(CacheRuleOptions rule, string prefix, List<string> errors)
    {
        if (string.IsNullOrEmpty(rule.Path) || rule.Path[0] != '/')
        {
            errors.Add($"{prefix}Path: \"{rule.Path}\" must start with '/', e.g. /static/** or /api/*/items.");
        }
        else
        {
            try
            {
                Glob.CompilePath(rule.Path);
            }
            catch (ArgumentException error)
            {
                errors.Add($"{prefix}Path: \"{rule.Path}\" is not a valid pattern ({error.Message}). Use '*' within a segment and '**' across segments.");
            }
        }

        for (var i = 0; i < rule.Methods.Count; i++)
        {
            if (!CacheOptionsValidator.IsToken(rule.Methods[i] ?? string.Empty))
            {
                errors.Add($"{prefix}Methods:{i}: \"{rule.Methods[i]}\" is not an HTTP method. Use e.g. GET.");
            }
        }

        Ttl(errors, prefix + "DefaultTtl", rule.DefaultTtl);
        Ttl(errors, prefix + "ForcedTtl", rule.ForcedTtl);
        Ttl(errors, prefix + "StaleWhileRevalidate", rule.StaleWhileRevalidate);
        Ttl(errors, prefix + "StaleIfError", rule.StaleIfError);
        if (rule.DefaultTtl is not null && rule.ForcedTtl is not null)
        {
            errors.Add($"{prefix}: DefaultTtl and ForcedTtl are both set. Keep one: ForcedTtl overrides the app, DefaultTtl applies only when the app says nothing.");
        }

        Names(errors, prefix + "IgnoreQueryParameters", rule.IgnoreQueryParameters, allowGlob: true);
        Names(errors, prefix + "VaryHeaders", rule.VaryHeaders, allowGlob: false);
        for (var i = 0; i < rule.IgnoreCookies.Count; i++)
        {
            var name = rule.IgnoreCookies[i]?.Trim() ?? string.Empty;
            if (name.Length == 0 || !CacheOptionsValidator.IsToken(name.Replace("*", "x", StringComparison.Ordinal).Replace("?", "x", StringComparison.Ordinal)))
            {
                errors.Add($"{prefix}IgnoreCookies:{i}: \"{rule.IgnoreCookies[i]}\" is not a cookie name or glob. Use e.g. _ga* or _gid, or * when cookies do not matter on this path.");
            }
        }

        if (rule.Bypass && rule.IgnoreCookies.Count > 0)
        {
            errors.Add($"{prefix}IgnoreCookies: a Bypass rule never uses the cache, so ignoring cookies means nothing there. Remove IgnoreCookies or Bypass.");
        }
        for (var i = 0; i < rule.Tags.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(rule.Tags[i]) || rule.Tags[i].Any(char.IsWhiteSpace))
            {
                errors.Add($"{prefix}Tags:{i}: \"{rule.Tags[i]}\" must be a non-empty word without spaces, e.g. product-pages.");
            }
        }
    }

    /// <summary>The rule's name: as configured, or <c>#index</c> when it has none.</summary>
    public static string NameOf(CacheRuleOptions rule, int index) =>
        string.IsNullOrWhiteSpace(rule.Name) ? "#" + index.ToString(CultureInfo.InvariantCulture) : rule.Name;

    public static CompiledRule Compile(CacheRuleOptions rule, int index) =>
        new(
            NameOf(rule, index),
            rule.Path == "/**" ? null : Glob.CompilePath(rule.Path, rule.IgnoreCase ?? rule.Bypass),
            rule.Methods.Select(m => m.Trim().ToUpperInvariant()).ToFrozenSet(StringComparer.Ordinal))
        {
            PathPattern = rule.Path,
            Bypass = rule.Bypass,
            DefaultTtlMs = Ms(rule.DefaultTtl),
            ForcedTtlMs = Ms(rule.ForcedTtl),
            StaleWhileRevalidateMs = Ms(rule.StaleWhileRevalidate),
            StaleIfErrorMs = Ms(rule.StaleIfError),
            IgnoreQueryParameters = [.. rule.IgnoreQueryParameters.Select(n => n.Trim())],
            VaryHeaders = [.. rule.VaryHeaders.Select(n => n.Trim().ToLowerInvariant()).Distinct(StringComparer.Ordinal)],
            AllowSetCookie = rule.AllowSetCookie,
            Tags = [.. rule.Tags.Select(t => t.Trim()).Distinct(StringComparer.Ordinal)],
            IgnoreClientCacheControl = rule.IgnoreClientCacheControl,
            IgnoreCookies = [.. rule.IgnoreCookies.Select(n => n.Trim()).Distinct(StringComparer.Ordinal)],
        };

    private static long? Ms(TimeSpan? value) => value is { } v ? (long)v.TotalMilliseconds : null;

    private static void Ttl(List<string> errors, string key, TimeSpan? value)
    {
        if (value is { } v && (v < TimeSpan.Zero || v > TimeSpan.FromDays(365)))
        {
            errors.Add($"{key}: {v} is out of range. Use a time span from 00:00:00 to 365.00:00:00, e.g. \"00:05:00\".");
        }
    }

    private static void Names(List<string> errors, string key, IList<string> names, bool allowGlob)
    {
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i]?.Trim() ?? string.Empty;
            var check = allowGlob ? name.Replace("*", "x", StringComparison.Ordinal).Replace("?", "x", StringComparison.Ordinal) : name;
            if (name.Length == 0 || (!allowGlob && !CacheOptionsValidator.IsToken(check)) || (allowGlob && (check.Contains('&', StringComparison.Ordinal) || check.Contains('=', StringComparison.Ordinal))))
            {
                errors.Add($"{key}:{i}: \"{names[i]}\" is not a valid name. Use e.g. {(allowGlob ? "utm_* or fbclid" : "Accept-Language")}.");
            }
        }
    }
}
