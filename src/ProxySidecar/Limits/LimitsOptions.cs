namespace ProxySidecar.Limits;

/// <summary>
/// Rate and concurrency limits (<c>Sidecar:Limits</c>): per-client rate limits by path, a cap on the requests
/// that reach the app, and a per-client connection limit on the public port. All of it reloads live.
/// </summary>
public sealed class LimitsOptions
{
    public const string Section = "Sidecar:Limits";

    /// <summary>
    /// Proxies in front of the sidecar (addresses or CIDR networks, e.g. an ingress controller's pod network) whose
    /// <c>X-Forwarded-For</c> is believed for the client address. Empty (the default): the connection's address, always.
    /// </summary>
    public IList<string> TrustedProxies { get; } = [];

    /// <summary>IPv6 client addresses are grouped by this prefix length (a single host usually holds a whole /64); 128 takes each address apart.</summary>
    public int Ipv6PrefixLength { get; set; } = 64;

    /// <summary>Most clients one rate-limit rule keeps track of; beyond it new clients share one overflow partition.</summary>
    public int MaxPartitions { get; set; } = 10_000;

    /// <summary>Open connections one client address may hold on the public port; more are closed before the TLS handshake. Null: unlimited.</summary>
    public int? MaxConnectionsPerClient { get; set; }

    /// <summary>The cap on what reaches the app (cache hits and stale answers never count).</summary>
    public AppLimitOptions App { get; set; } = new();

    /// <summary>Ordered rate-limit rules, first match wins.</summary>
    public IList<RateLimitRuleOptions> Rules { get; } = [];
}

/// <summary>The cap on the requests forwarded to the app at once (<c>Sidecar:Limits:App</c>).</summary>
public sealed class AppLimitOptions
{
    /// <summary>Requests in flight to the app at most; null (the default): no cap.</summary>
    public int? MaxConcurrentRequests { get; set; }

    /// <summary>Requests that wait for a free slot; beyond it 503 at once. 0: no waiting.</summary>
    public int QueueLimit { get; set; } = 100;

    /// <summary>Longest wait in the queue; then 503.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The Retry-After of a 503 from the cap (whole seconds, rounded up).</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>What a rate-limit rule counts requests by.</summary>
public enum PartitionKind
{
    /// <summary>The client's address: the connection's, or from X-Forwarded-For when the connection comes from a trusted proxy.</summary>
    ClientAddress,

    /// <summary>The value of a request header; a request without it counts by its client address.</summary>
    Header,

    /// <summary>The subject of the verified client certificate (mTLS); a request without one counts by its client address.</summary>
    ClientCertificate,
}

/// <summary>How a rate-limit rule counts.</summary>
public enum RateLimitAlgorithm
{
    /// <summary>A bucket of PermitLimit tokens, refilled with TokensPerWindow every Window; a request takes one.</summary>
    TokenBucket,

    /// <summary>At most PermitLimit requests in any Window, counted in SegmentsPerWindow segments.</summary>
    SlidingWindow,
}

/// <summary>One rule of <c>Sidecar:Limits:Rules</c>.</summary>
public sealed class RateLimitRuleOptions
{
    /// <summary>Shown in /status, metrics and 429 bodies; defaults to the rule's position (<c>#0</c>).</summary>
    public string? Name { get; set; }

    /// <summary>Path glob as in the cache rules: <c>*</c> within a segment, <c>**</c> across segments, <c>?</c> one character.</summary>
    public string Path { get; set; } = "/**";

    /// <summary>Match <see cref="Path"/> without regard to case (on by default: a limit on /login must hold for /LOGIN too).</summary>
    public bool IgnoreCase { get; set; } = true;

    /// <summary>Methods the rule applies to; empty: every method.</summary>
    public IList<string> Methods { get; } = [];

    /// <summary>What requests are counted by.</summary>
    public PartitionKind PartitionBy { get; set; } = PartitionKind.ClientAddress;

    /// <summary>The request header counted by, with <see cref="PartitionBy"/> Header.</summary>
    public string? Header { get; set; }

    public RateLimitAlgorithm Algorithm { get; set; } = RateLimitAlgorithm.TokenBucket;

    /// <summary>Token bucket: the bucket's size (the burst). Sliding window: requests allowed in any <see cref="Window"/>.</summary>
    public int PermitLimit { get; set; } = 100;

    /// <summary>Token bucket: how often tokens are added (at least 0.1 s). Sliding window: the window's length (at least 1 s).</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Token bucket only: tokens added every <see cref="Window"/>; null: <see cref="PermitLimit"/>.</summary>
    public int? TokensPerWindow { get; set; }

    /// <summary>Sliding window only: segments the window is counted in (each at least a second); null: 10, fewer when a segment would be under a second.</summary>
    public int? SegmentsPerWindow { get; set; }
}
