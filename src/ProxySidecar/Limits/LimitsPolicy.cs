using System.Collections.Frozen;
using System.Net;
using System.Text.RegularExpressions;
using System.Threading.RateLimiting;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Limits;

/// <summary>
/// One immutable snapshot of <c>Sidecar:Limits</c>, compiled: rules with their partition tables, the trusted
/// proxies, the cap on the app. Requests read it with one volatile read (<see cref="LimitsPolicyProvider.Current"/>);
/// a reload publishes a new one that keeps the tables and the cap of whatever did not change, so an unrelated
/// configuration change resets no client's count.
/// </summary>
internal sealed class LimitsPolicy
{
    private LimitsPolicy(LimitsOptions options, RateLimitRule[] rules, AppCap? app, IPNetwork[] trustedProxies)
    {
        Rules = rules;
        App = app;
        TrustedProxies = trustedProxies;
        TrustedProxyText = [.. trustedProxies.Select(n => n.ToString())];
        Ipv6PrefixLength = options.Ipv6PrefixLength;
        MaxPartitions = options.MaxPartitions;
        MaxConnectionsPerClient = options.MaxConnectionsPerClient;
    }

    public RateLimitRule[] Rules { get; }

    public bool HasRules => Rules.Length > 0;

    /// <summary>The cap on the app; null when there is none.</summary>
    public AppCap? App { get; }

    public IPNetwork[] TrustedProxies { get; }

    public string[] TrustedProxyText { get; }

    public int Ipv6PrefixLength { get; }

    public int MaxPartitions { get; }

    public int? MaxConnectionsPerClient { get; }

    /// <summary>Compiles validated options; tables and the cap's limiter are taken over from <paramref name="previous"/> where their settings are the same.</summary>
    public static LimitsPolicy Compile(LimitsOptions options, LimitsPolicy? previous)
    {
        var rules = new RateLimitRule[options.Rules.Count];
        for (var i = 0; i < rules.Length; i++)
        {
            var definition = RateLimitDefinition.From(options.Rules[i], i);
            var kept = previous?.Rules.FirstOrDefault(r => r.Definition == definition && r.Table.MaxPartitions == options.MaxPartitions);
            rules[i] = new RateLimitRule(definition, kept?.Table ?? new PartitionTable(definition, options.MaxPartitions));
        }

        AppCap? app = null;
        if ((options.App ?? new AppLimitOptions()) is { MaxConcurrentRequests: { } max } settings)
        {
            var gate = previous?.App?.Gate is { } old && old.MaxConcurrentRequests == max && old.QueueLimit == settings.QueueLimit
                ? old
                : new AppGate(max, settings.QueueLimit);
            app = new AppCap(gate, settings.QueueTimeout, settings.RetryAfter);
        }

        var trusted = options.TrustedProxies
            .Select(t => LimitsOptionsValidator.TryParseNetwork(t, out var network) ? network : throw new ArgumentException($"Not a network: {t}", nameof(options)))
            .ToArray();
        return new LimitsPolicy(options, rules, app, trusted);
    }

    /// <summary>
    /// The rule for a request: the first rule matching the routed path, or the first matching its normalised form
    /// (<see cref="RulePath.Normalise"/>: <c>//login</c>, <c>/login;x</c> and <c>/a/../login</c> are <c>/login</c>
    /// to most apps), whichever comes first in the list; null when none matches.
    /// </summary>
    public RateLimitRule? Match(string method, string path)
    {
        var routed = First(method, path, 0, Rules.Length);
        var normalised = RulePath.Normalise(path);
        if (ReferenceEquals(normalised, path))
        {
            return routed < Rules.Length ? Rules[routed] : null;
        }

        var other = First(method, normalised, 0, routed);
        var index = Math.Min(routed, other);
        return index < Rules.Length ? Rules[index] : null;
    }

    /// <summary>Whom the request counts against under <paramref name="rule"/>.</summary>
    public PartitionKey KeyFor(RateLimitRule rule, HttpContext context)
    {
        var text = rule.Definition.PartitionBy switch
        {
            PartitionKind.Header => ClientKeys.HeaderText(context, rule.Definition.Header!),
            PartitionKind.ClientCertificate => ClientKeys.Text(context.Connection.ClientCertificate?.Subject),
            _ => null,
        };

        // Without the header or a certificate, a request counts by its client address (the key has no text then).
        return text is not null
            ? new PartitionKey(UInt128.Zero, text)
            : new PartitionKey(ClientKeys.AddressKey(ClientKeys.ClientAddress(context, TrustedProxies), Ipv6PrefixLength), null);
    }

    /// <summary>True when <paramref name="other"/> limits exactly as this one does (a reload that changed nothing here).</summary>
    public bool SameSettingsAs(LimitsPolicy other) =>
        Rules.Select(r => r.Definition).SequenceEqual(other.Rules.Select(r => r.Definition))
        && TrustedProxyText.SequenceEqual(other.TrustedProxyText, StringComparer.Ordinal)
        && Ipv6PrefixLength == other.Ipv6PrefixLength
        && MaxPartitions == other.MaxPartitions
        && MaxConnectionsPerClient == other.MaxConnectionsPerClient
        && (App is null ? other.App is null : other.App is not null && App.Settings == other.App.Settings);

    private int First(string method, string path, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            if (Rules[i].Matches(method, path))
            {
                return i;
            }
        }

        return Rules.Length;
    }
}

/// <summary>A rule's settings as compiled; equal definitions share one partition table across reloads.</summary>
internal sealed record RateLimitDefinition(
    string Name,
    string Path,
    bool IgnoreCase,
    string Methods,
    PartitionKind PartitionBy,
    string? Header,
    RateLimitAlgorithm Algorithm,
    int PermitLimit,
    TimeSpan Window,
    int TokensPerWindow,
    int SegmentsPerWindow)
{
    public static RateLimitDefinition From(RateLimitRuleOptions rule, int index) => new(
        LimitsOptionsValidator.RuleName(rule, index),
        rule.Path,
        rule.IgnoreCase,
        string.Join(',', rule.Methods.Select(m => m.Trim().ToUpperInvariant()).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)),
        rule.PartitionBy,
        rule.PartitionBy == PartitionKind.Header ? rule.Header?.Trim() : null,
        rule.Algorithm,
        rule.PermitLimit,
        rule.Window,
        rule.Algorithm == RateLimitAlgorithm.TokenBucket ? rule.TokensPerWindow ?? rule.PermitLimit : 0,
        rule.Algorithm == RateLimitAlgorithm.SlidingWindow ? rule.SegmentsPerWindow ?? DefaultSegments(rule.Window) : 0);

    /// <summary>10 segments, fewer when a segment would be shorter than a second.</summary>
    public static int DefaultSegments(TimeSpan window) =>
        (int)Math.Clamp(window.Ticks / LimitsOptionsValidator.MinimumSegment.Ticks, 1, 10);
}

/// <summary>One rate-limit rule, compiled: immutable, shared by the requests of every snapshot that keeps it.</summary>
internal sealed class RateLimitRule
{
    private readonly Regex? _path;
    private readonly FrozenSet<string> _methods;

    public RateLimitRule(RateLimitDefinition definition, PartitionTable table)
    {
        Definition = definition;
        Table = table;
        _path = definition.Path == "/**" ? null : Glob.CompilePath(definition.Path, definition.IgnoreCase);
        _methods = definition.Methods.Length == 0 ? FrozenSet<string>.Empty : definition.Methods.Split(',').ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    }

    public RateLimitDefinition Definition { get; }

    public string Name => Definition.Name;

    public PartitionTable Table { get; }

    public bool Matches(string method, string path) =>
        (_methods.Count == 0 || _methods.Contains(method)) && (_path is null || _path.IsMatch(path));
}

/// <summary>The cap on the app as configured now; <see cref="Gate"/> is kept across reloads that leave its size alone.</summary>
internal sealed record AppCap(AppGate Gate, TimeSpan QueueTimeout, TimeSpan RetryAfter)
{
    public (int Max, int QueueLimit, TimeSpan QueueTimeout, TimeSpan RetryAfter) Settings => (Gate.MaxConcurrentRequests, Gate.QueueLimit, QueueTimeout, RetryAfter);
}

/// <summary>The requests in flight to the app and those waiting for a slot: a <see cref="ConcurrencyLimiter"/>, oldest first.</summary>
internal sealed class AppGate
{
    private long _queueFull;
    private long _queueTimeout;
    private long _refresh;

    public AppGate(int maxConcurrentRequests, int queueLimit)
    {
        MaxConcurrentRequests = maxConcurrentRequests;
        QueueLimit = queueLimit;
        Limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = maxConcurrentRequests,
            QueueLimit = queueLimit,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    public int MaxConcurrentRequests { get; }

    public int QueueLimit { get; }

    public ConcurrencyLimiter Limiter { get; }

    public int InFlight => MaxConcurrentRequests - (int)(Limiter.GetStatistics()?.CurrentAvailablePermits ?? MaxConcurrentRequests);

    public int Queued => (int)(Limiter.GetStatistics()?.CurrentQueuedCount ?? 0);

    public long RejectedQueueFull => Interlocked.Read(ref _queueFull);

    public long RejectedQueueTimeout => Interlocked.Read(ref _queueTimeout);

    public long RejectedRefresh => Interlocked.Read(ref _refresh);

    public void CountRejection(string reason)
    {
        switch (reason)
        {
            case AppRejection.QueueFull:
                Interlocked.Increment(ref _queueFull);
                break;
            case AppRejection.QueueTimeout:
                Interlocked.Increment(ref _queueTimeout);
                break;
            default:
                Interlocked.Increment(ref _refresh);
                break;
        }
    }
}

/// <summary>Why the cap refused a request (the <c>reason</c> of <c>proxysidecar.limits.app.rejected</c>).</summary>
internal static class AppRejection
{
    public const string QueueFull = "queue_full";
    public const string QueueTimeout = "queue_timeout";
    public const string Refresh = "refresh";
}
