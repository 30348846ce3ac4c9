using Microsoft.Extensions.Options;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching;

/// <summary>Collects every problem of <see cref="CacheOptions"/>, each named by its key with a fix.</summary>
internal sealed class CacheOptionsValidator : IValidateOptions<CacheOptions>
{
    public ValidateOptionsResult Validate(string? name, CacheOptions options)
    {
        var errors = new List<string>();
        const string p = CacheOptions.Section + ":";
        if (options.SizeLimitBytes < 1024 * 1024)
        {
            errors.Add($"{p}SizeLimitBytes: {options.SizeLimitBytes} is too small. Use at least 1048576 (1 MiB); the default is 268435456 (256 MiB).");
        }

        if (options.MaxEntryBytes <= 0 || options.MaxEntryBytes > options.SizeLimitBytes || options.MaxEntryBytes > int.MaxValue / 2)
        {
            errors.Add($"{p}MaxEntryBytes: {options.MaxEntryBytes} is out of range. Use a positive number of bytes, at most SizeLimitBytes and at most 1073741823 (default 8388608).");
        }

        if (options.HeapHeadroomBytes != 0 && options.HeapHeadroomBytes < 32L * 1024 * 1024)
        {
            errors.Add($"{p}HeapHeadroomBytes: {options.HeapHeadroomBytes} is too small to run in. Use at least 33554432 (32 MiB), 0 for no heap limit, or the default 100663296 (96 MiB).");
        }

        Positive(errors, p + "HeuristicMaxAge", options.HeuristicMaxAge, allowZero: true);
        Positive(errors, p + "KeepStaleFor", options.KeepStaleFor, allowZero: true);
        Positive(errors, p + "StaleIfUnreachable", options.StaleIfUnreachable, allowZero: true);
        Positive(errors, p + "MaxEntryLifetime", options.MaxEntryLifetime, allowZero: false);
        Positive(errors, p + "HitForMissDuration", options.HitForMissDuration, allowZero: true);
        Positive(errors, p + "CoalescingTimeout", options.CoalescingTimeout, allowZero: false);
        Positive(errors, p + "BackgroundRefreshTimeout", options.BackgroundRefreshTimeout, allowZero: false);
        Positive(errors, p + "StoreTimeout", options.StoreTimeout, allowZero: false);
        Positive(errors, p + "PurgeMarkerCacheDuration", options.PurgeMarkerCacheDuration, allowZero: true);
        if (options.TargetedCacheControlHeader is { Length: > 0 } targeted && !IsToken(targeted))
        {
            errors.Add($"{p}TargetedCacheControlHeader: \"{targeted}\" is not a header name. Use e.g. CDN-Cache-Control, or leave it empty.");
        }

        if (string.IsNullOrEmpty(options.SurrogateKeyHeader) || !IsToken(options.SurrogateKeyHeader))
        {
            errors.Add($"{p}SurrogateKeyHeader: \"{options.SurrogateKeyHeader}\" is not a header name. Use e.g. Surrogate-Key.");
        }

        if (string.IsNullOrEmpty(options.CacheStatusName) || !IsToken(options.CacheStatusName))
        {
            errors.Add($"{p}CacheStatusName: \"{options.CacheStatusName}\" must be a token (letters, digits, -_.). Use e.g. ProxySidecar.");
        }

        var named = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.Rules.Count; i++)
        {
            RuleCompiler.Validate(options.Rules[i], $"{p}Rules:{i}:", errors);

            // Figures, /status and /cache/explain name rules: each name must say which rule it is.
            var ruleName = RuleCompiler.NameOf(options.Rules[i], i);
            if (ruleName.StartsWith('(') && ruleName.EndsWith(')'))
            {
                errors.Add($"{p}Rules:{i}:Name: \"{ruleName}\" is reserved (names in parentheses stand for no rule, or for all of them). Give the rule a name of its own.");
            }
            else if (!named.TryAdd(ruleName, i))
            {
                errors.Add($"{p}Rules:{i}:Name: \"{ruleName}\" is also the name of rule {named[ruleName]}. Give each rule its own name: metrics and /status count by name.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static void Positive(List<string> errors, string key, TimeSpan value, bool allowZero)
    {
        if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero) || value > TimeSpan.FromDays(365))
        {
            errors.Add($"{key}: {value} is out of range. Use a time span {(allowZero ? "of zero or more" : "above zero")} and at most 365 days, written \"hh:mm:ss\" or \"d.hh:mm:ss\".");
        }
    }

    internal static bool IsToken(string value)
    {
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '^' or '`' or '|' or '~'))
            {
                return false;
            }
        }

        return value.Length > 0;
    }
}
