using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace ProxySidecar.Limits;

/// <summary>
/// The global limiter ASP.NET's rate-limiting middleware asks for every public request: the first matching rule
/// of the live <see cref="LimitsPolicy"/> counts the request against its client's partition. Nothing waits: a
/// request over the limit is refused at once (<see cref="OnRejectedAsync"/>: 429, Retry-After, problem+json).
/// </summary>
internal sealed class SidecarRateLimiter(LimitsPolicyProvider limits, LimitsMetrics metrics) : PartitionedRateLimiter<HttpContext>
{
    private static readonly RateLimitLease Unlimited = new UnlimitedLease();

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => null;

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount)
    {
        var policy = limits.Current;
        if (!policy.HasRules)
        {
            return Unlimited;
        }

        var rule = policy.Match(resource.Request.Method, resource.Request.Path.Value ?? "/");
        if (rule is null)
        {
            return Unlimited;
        }

        var lease = rule.Table.Acquire(policy.KeyFor(rule, resource), permitCount, out var overflowed);
        if (overflowed)
        {
            metrics.RateOverflowed(rule.Name);
        }

        if (lease.IsAcquired)
        {
            return lease;
        }

        var refused = new RefusedLease(rule, lease);
        resource.Features.Set(refused);
        return refused;
    }

    /// <summary>
    /// Never waits. The middleware asks again after a refused attempt: it gets the same refusal, and the request is
    /// counted once (its client's partition, or the overflow, is not asked twice).
    /// </summary>
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(resource.Features.Get<RefusedLease>() ?? AttemptAcquireCore(resource, permitCount));

    /// <summary>The middleware's OnRejected: counts the refusal by rule and answers 429.</summary>
    public ValueTask OnRejectedAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var rule = (context.Lease as RefusedLease)?.Rule;
        var name = rule?.Name ?? "unknown";
        rule?.Table.CountRejection();
        metrics.RateRejected(name);
        var wait = RetryAfter(context.Lease, rule);
        var detail = string.Create(CultureInfo.InvariantCulture, $"Too many requests for rate limit \"{name}\"; retry after {LimitResponses.RetryAfterSeconds(wait)} s.");
        return new ValueTask(LimitResponses.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests, "Too Many Requests", detail, wait));
    }

    /// <summary>
    /// A token bucket says when the next token comes (its lease's RetryAfter); a sliding window without a timer of
    /// its own says nothing, and frees permits at the earliest when its oldest segment leaves the window.
    /// </summary>
    internal static TimeSpan RetryAfter(RateLimitLease lease, RateLimitRule? rule)
    {
        if (lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) && retryAfter > TimeSpan.Zero)
        {
            return retryAfter;
        }

        return rule?.Table.Segment ?? TimeSpan.FromSeconds(1);
    }

    /// <summary>A refused lease that says which rule refused it.</summary>
    internal sealed class RefusedLease(RateLimitRule rule, RateLimitLease inner) : RateLimitLease
    {
        public RateLimitRule Rule { get; } = rule;

        public override bool IsAcquired => false;

        public override IEnumerable<string> MetadataNames => inner.MetadataNames;

        public override bool TryGetMetadata(string metadataName, out object? metadata) => inner.TryGetMetadata(metadataName, out metadata);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    private sealed class UnlimitedLease : RateLimitLease
    {
        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
