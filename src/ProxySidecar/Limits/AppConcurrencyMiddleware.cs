using System.Globalization;
using Microsoft.AspNetCore.Http.Features;
using System.Threading.RateLimiting;

namespace ProxySidecar.Limits;

/// <summary>
/// The cap on what reaches the app (<c>Sidecar:Limits:App</c>). It runs inside the forwarder's pipeline, after
/// the HTTP cache: only what the cache sends on (misses, revalidations, background refreshes, requests it does not
/// cache) is counted, so hits and stale answers are served whatever the app's load. A request takes one of
/// MaxConcurrentRequests slots for as long as it is forwarded; without a free slot it waits in a queue (oldest
/// first) of at most QueueLimit requests for at most QueueTimeout; beyond either, 503 with Retry-After.
/// A background refresh never waits and never goes ahead of a waiting client: without a free slot it gets 503 at
/// once, the cache keeps the stale entry (it serves it while stale-while-revalidate allows) and a later request
/// starts another refresh. An upgrade (a WebSocket) holds its slot until the app has accepted it: the tunnel that
/// follows is not counted, or a few long-lived sockets would hold every slot for hours.
/// </summary>
internal sealed class AppConcurrencyMiddleware(RequestDelegate next, LimitsPolicyProvider limits, LimitsMetrics metrics, TimeProvider time)
{
    public Task InvokeAsync(HttpContext context)
    {
        var app = limits.Current.App;
        if (app is null)
        {
            return next(context);
        }

        var gate = app.Gate;
        var lease = gate.Limiter.AttemptAcquire();
        if (lease.IsAcquired)
        {
            return ForwardAsync(context, lease);
        }

        lease.Dispose();
        if (!ClientRequestMarker.IsClientRequest(context))
        {
            return RejectAsync(context, app, AppRejection.Refresh);
        }

        return gate.QueueLimit == 0 ? RejectAsync(context, app, AppRejection.QueueFull) : QueueAsync(context, app);
    }

    private async Task ForwardAsync(HttpContext context, RateLimitLease lease)
    {
        var slot = new Slot(lease);
        var features = context.Features;
        var upgrade = features.Get<IHttpUpgradeFeature>();
        var connect = features.Get<IHttpExtendedConnectFeature>();
        if (upgrade is { IsUpgradableRequest: true })
        {
            features.Set<IHttpUpgradeFeature>(new SlotReleasingUpgrade(upgrade, slot));
        }

        if (connect is { IsExtendedConnect: true })
        {
            features.Set<IHttpExtendedConnectFeature>(new SlotReleasingConnect(connect, slot));
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            slot.Release();
        }
    }

    private async Task QueueAsync(HttpContext context, AppCap app)
    {
        RateLimitLease lease;
        using (var timeout = new CancellationTokenSource(app.QueueTimeout, time))
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, context.RequestAborted))
        {
            try
            {
                lease = await app.Gate.Limiter.AcquireAsync(1, wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away while waiting; nothing to answer.
                return;
            }
            catch (OperationCanceledException)
            {
                await RejectAsync(context, app, AppRejection.QueueTimeout).ConfigureAwait(false);
                return;
            }
        }

        if (!lease.IsAcquired)
        {
            lease.Dispose();
            await RejectAsync(context, app, AppRejection.QueueFull).ConfigureAwait(false);
            return;
        }

        await ForwardAsync(context, lease).ConfigureAwait(false);
    }

    private Task RejectAsync(HttpContext context, AppCap app, string reason)
    {
        app.Gate.CountRejection(reason);
        metrics.AppRejected(reason);
        var max = app.Gate.MaxConcurrentRequests.ToString(CultureInfo.InvariantCulture);
        var detail = reason == AppRejection.QueueTimeout
            ? $"The app is busy with {max} requests; this one waited {app.QueueTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s for its turn."
            : $"The app is busy with {max} requests and no more can wait.";
        return LimitResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Service Unavailable", detail, app.RetryAfter);
    }

    /// <summary>A slot of the cap, given back once: when the request ends, or when its upgrade is accepted.</summary>
    private sealed class Slot(RateLimitLease lease)
    {
        private int _released;

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                lease.Dispose();
            }
        }
    }

    /// <summary>An HTTP/1.1 upgrade: the slot is given back when the app's 101 turns the request into a tunnel.</summary>
    private sealed class SlotReleasingUpgrade(IHttpUpgradeFeature inner, Slot slot) : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => inner.IsUpgradableRequest;

        public async Task<Stream> UpgradeAsync()
        {
            var stream = await inner.UpgradeAsync().ConfigureAwait(false);
            slot.Release();
            return stream;
        }
    }

    /// <summary>An HTTP/2 extended CONNECT (a WebSocket over HTTP/2): the same, when the app accepts it.</summary>
    private sealed class SlotReleasingConnect(IHttpExtendedConnectFeature inner, Slot slot) : IHttpExtendedConnectFeature
    {
        public bool IsExtendedConnect => inner.IsExtendedConnect;

        public string? Protocol => inner.Protocol;

        public async ValueTask<Stream> AcceptAsync()
        {
            var stream = await inner.AcceptAsync().ConfigureAwait(false);
            slot.Release();
            return stream;
        }
    }
}
