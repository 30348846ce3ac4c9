using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Limits;

/// <summary>Collects every problem of <see cref="LimitsOptions"/>, each named by its key with a fix.</summary>
internal sealed class LimitsOptionsValidator : IValidateOptions<LimitsOptions>
{
    public const int MaxPartitionsLimit = 1_000_000;

    /// <summary>
    /// The shortest window of any rule (a token bucket's refill period).
    /// </summary>
    public static readonly TimeSpan MinimumWindow = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The shortest sliding-window segment. Segments advance on the tables' heartbeat, a tenth of a segment apart (at
    /// least 0.1 s), so a segment of a second or more lasts at most a tenth longer than it should.
    /// </summary>
    public static readonly TimeSpan MinimumSegment = TimeSpan.FromSeconds(1);

    public ValidateOptionsResult Validate(string? name, LimitsOptions options)
    {
        var errors = new List<string>();
        const string p = LimitsOptions.Section + ":";
        for (var i = 0; i < options.TrustedProxies.Count; i++)
        {
            if (!TryParseNetwork(options.TrustedProxies[i], out _))
            {
                errors.Add($"{p}TrustedProxies:{i}: \"{options.TrustedProxies[i]}\" is not an IP address or CIDR network. Use e.g. 10.0.0.0/8 or 192.168.1.10.");
            }
        }

        if (options.Ipv6PrefixLength is < 32 or > 128)
        {
            errors.Add($"{p}Ipv6PrefixLength: {options.Ipv6PrefixLength} is out of range. Use a prefix length from 32 to 128 (default 64; 128 counts every IPv6 address apart).");
        }

        if (options.MaxPartitions is < 1 or > MaxPartitionsLimit)
        {
            errors.Add($"{p}MaxPartitions: {options.MaxPartitions} is out of range. Use 1 to 1000000 clients per rule (default 10000).");
        }

        if (options.MaxConnectionsPerClient is <= 0)
        {
            errors.Add($"{p}MaxConnectionsPerClient: {options.MaxConnectionsPerClient} must be positive, or removed for no limit.");
        }

        var app = options.App ?? new AppLimitOptions();
        if (app.MaxConcurrentRequests is <= 0)
        {
            errors.Add($"{p}App:MaxConcurrentRequests: {app.MaxConcurrentRequests} must be positive, or removed for no cap on the app.");
        }

        if (app.QueueLimit is < 0 or > 100_000)
        {
            errors.Add($"{p}App:QueueLimit: {app.QueueLimit} is out of range. Use 0 (no waiting) to 100000 requests (default 100).");
        }

        if (app.QueueTimeout <= TimeSpan.Zero || app.QueueTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{p}App:QueueTimeout: {app.QueueTimeout} is out of range. Use a time span above zero and at most 00:10:00 (default 00:00:05).");
        }

        if (app.RetryAfter < TimeSpan.FromSeconds(1) || app.RetryAfter > TimeSpan.FromDays(1))
        {
            errors.Add($"{p}App:RetryAfter: {app.RetryAfter} is out of range. Use a time span from 00:00:01 to 1.00:00:00 (default 00:00:01).");
        }

        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.Rules.Count; i++)
        {
            var rule = options.Rules[i];
            var prefix = $"{p}Rules:{i}:";
            ValidateRule(rule, prefix, errors);
            var ruleName = RuleName(rule, i);
            if (!names.TryAdd(ruleName, i))
            {
                errors.Add($"{prefix}Name: \"{ruleName}\" is also the name of rule {names[ruleName].ToString(CultureInfo.InvariantCulture)}. Give every rule its own name: it labels the rule's metrics and /status entry.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public static string RuleName(RateLimitRuleOptions rule, int index) =>
        string.IsNullOrWhiteSpace(rule.Name) ? "#" + index.ToString(CultureInfo.InvariantCulture) : rule.Name.Trim();

    /// <summary>An address (a network of one) or CIDR network; IPv4-mapped IPv6 addresses are read as IPv4.</summary>
    public static bool TryParseNetwork(string? text, out IPNetwork network)
    {
        var value = text?.Trim() ?? string.Empty;
        if (value.Contains('/', StringComparison.Ordinal))
        {
            return IPNetwork.TryParse(value, out network);
        }

        if (IPAddress.TryParse(value, out var address))
        {
            address = ClientKeys.Canonical(address);
            network = new IPNetwork(address, address.GetAddressBytes().Length * 8);
            return true;
        }

        network = default;
        return false;
    }

    private static void ValidateRule(RateLimitRuleOptions rule, string prefix, List<string> errors)
    {
        if (string.IsNullOrEmpty(rule.Path) || rule.Path[0] != '/')
        {
            errors.Add($"{prefix}Path: \"{rule.Path}\" must start with '/', e.g. /login or /api/**.");
        }
        else
        {
            try
            {
                Glob.CompilePath(rule.Path, rule.IgnoreCase);
            }
            catch (ArgumentException error)
            {
                errors.Add($"{prefix}Path: \"{rule.Path}\" is not a valid pattern ({error.Message}). Use '*' within a segment and '**' across segments.");
            }
        }

        for (var i = 0; i < rule.Methods.Count; i++)
        {
            if (!CacheOptionsValidator.IsToken(rule.Methods[i]?.Trim() ?? string.Empty))
            {
                errors.Add($"{prefix}Methods:{i}: \"{rule.Methods[i]}\" is not an HTTP method. Use e.g. POST, or leave Methods empty for every method.");
            }
        }

        if (rule.PartitionBy == PartitionKind.Header)
        {
            if (string.IsNullOrWhiteSpace(rule.Header))
            {
                errors.Add($"{prefix}Header: PartitionBy is Header but no header is named. Set Header to the request header to count by, e.g. X-Api-Key.");
            }
            else if (!CacheOptionsValidator.IsToken(rule.Header.Trim()))
            {
                errors.Add($"{prefix}Header: \"{rule.Header}\" is not a header name. Use e.g. X-Api-Key.");
            }
        }
        else if (!string.IsNullOrWhiteSpace(rule.Header))
        {
            errors.Add($"{prefix}Header: \"{rule.Header}\" is used only with PartitionBy Header. Set PartitionBy to Header, or remove Header.");
        }

        if (rule.PermitLimit is < 1 or > 1_000_000)
        {
            errors.Add($"{prefix}PermitLimit: {rule.PermitLimit} is out of range. Use 1 to 1000000 requests (default 100).");
        }

        var windowValid = rule.Window >= MinimumWindow && rule.Window <= TimeSpan.FromDays(1);
        if (!windowValid)
        {
            errors.Add($"{prefix}Window: {rule.Window} is out of range. Use a time span from 00:00:00.1 to 1.00:00:00 (default 00:00:01).");
        }

        if (rule.Algorithm == RateLimitAlgorithm.TokenBucket)
        {
            if (rule.SegmentsPerWindow is not null)
            {
                errors.Add($"{prefix}SegmentsPerWindow: it is used only with Algorithm SlidingWindow. Remove it, or set Algorithm to SlidingWindow.");
            }

            if (rule.TokensPerWindow is { } tokens && (tokens < 1 || tokens > rule.PermitLimit))
            {
                errors.Add($"{prefix}TokensPerWindow: {tokens} is out of range. Use 1 to PermitLimit ({rule.PermitLimit.ToString(CultureInfo.InvariantCulture)}), or remove it to refill the whole bucket every Window.");
            }
        }
        else
        {
            if (windowValid && rule.Window < MinimumSegment)
            {
                errors.Add($"{prefix}Window: {rule.Window} is too short for a sliding window. Use at least 00:00:01, or Algorithm TokenBucket for limits per fraction of a second.");
            }

            if (rule.TokensPerWindow is not null)
            {
                errors.Add($"{prefix}TokensPerWindow: it is used only with Algorithm TokenBucket. Remove it, or set Algorithm to TokenBucket.");
            }

            if (rule.SegmentsPerWindow is { } segments
                && (segments < 1 || segments > 100 || (windowValid && rule.Window >= MinimumSegment && rule.Window / segments < MinimumSegment)))
            {
                errors.Add($"{prefix}SegmentsPerWindow: {segments} is out of range. Use 1 to 100, with each segment (Window / SegmentsPerWindow) at least 00:00:01, or remove it.");
            }
        }
    }
}
