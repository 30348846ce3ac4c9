using ProxySidecar.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Proxy;

/// <summary>
/// YARP's handler (pooled connections, no proxy, no redirects, no decompression, no cookies) plus the
/// configured connect timeout.
/// </summary>
internal sealed class UpstreamHttpClientFactory(LastGoodOptions<UpstreamOptions> options, ILogger<ForwarderHttpClientFactory> logger)
    : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = options.Current.ConnectTimeout;
        handler.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(50);
        handler.PooledConnectionLifetime = Timeout.InfiniteTimeSpan;
    }
}
