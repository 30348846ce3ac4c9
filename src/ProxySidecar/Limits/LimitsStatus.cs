using ProxySidecar.Admin;

namespace ProxySidecar.Limits;

/// <summary>The <c>limits</c> section of /status: the live rules with their tables, the cap on the app, connections per client.</summary>
internal sealed class LimitsStatus(LimitsPolicyProvider limits, ClientConnectionLimiter connections) : IStatusContributor
{
    public string Name => "limits";

    public object GetStatus()
    {
        var policy = limits.Current;
        var rules = policy.Rules.Select(r => new RateLimitRuleStatus(
            r.Name,
            r.Definition.Path,
            r.Definition.Methods.Length == 0 ? [] : r.Definition.Methods.Split(','),
            r.Definition.PartitionBy.ToString(),
            r.Definition.Header,
            r.Definition.Algorithm.ToString(),
            r.Definition.PermitLimit,
            r.Definition.Window,
            r.Definition.Algorithm == RateLimitAlgorithm.TokenBucket ? r.Definition.TokensPerWindow : null,
            r.Definition.Algorithm == RateLimitAlgorithm.SlidingWindow ? r.Definition.SegmentsPerWindow : null,
            r.Table.Count,
            r.Table.Rejected,
            r.Table.Overflowed)).ToArray();
        var app = policy.App is { } cap
            ? new AppLimitStatus(
                cap.Gate.MaxConcurrentRequests,
                cap.Gate.InFlight,
                cap.Gate.Queued,
                cap.Gate.QueueLimit,
                cap.QueueTimeout,
                new AppRejectionCounts(cap.Gate.RejectedQueueFull, cap.Gate.RejectedQueueTimeout, cap.Gate.RejectedRefresh))
            : null;
        return new LimitsStatusBody(
            rules,
            policy.MaxPartitions,
            policy.TrustedProxyText,
            policy.Ipv6PrefixLength,
            app,
            new ConnectionLimitStatus(policy.MaxConnectionsPerClient, connections.Clients, connections.Open, connections.Rejected),
            limits.LastReload);
    }
}

internal sealed record LimitsStatusBody(
    IReadOnlyList<RateLimitRuleStatus> Rules,
    int MaxPartitions,
    IReadOnlyList<string> TrustedProxies,
    int Ipv6PrefixLength,
    AppLimitStatus? App,
    ConnectionLimitStatus Connections,
    DateTimeOffset? LastReload);

internal sealed record RateLimitRuleStatus(
    string Name,
    string Path,
    IReadOnlyList<string> Methods,
    string PartitionBy,
    string? Header,
    string Algorithm,
    int PermitLimit,
    TimeSpan Window,
    int? TokensPerWindow,
    int? SegmentsPerWindow,
    int Partitions,
    long Rejected,
    long Overflowed);

internal sealed record AppLimitStatus(int MaxConcurrentRequests, int InFlight, int Queued, int QueueLimit, TimeSpan QueueTimeout, AppRejectionCounts Rejected);

internal sealed record AppRejectionCounts(long QueueFull, long QueueTimeout, long Refresh);

internal sealed record ConnectionLimitStatus(int? MaxPerClient, int Clients, long Open, long Rejected);
