using ProxySidecar.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Proxy;

/// <summary>
/// YARP's handler (pooled connections, no proxy, no redirects, no decompression, no cookies) plus the
/// configured connect timeout and Latin-1 header values both ways.
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

        // Bytes round-trip (see Listeners): request header values go to the app as the client sent them, response
        // header values with obs-text or UTF-8 are read instead of failing the response with a 502. A cluster's own
        // RequestHeaderEncoding/ResponseHeaderEncoding (full ReverseProxy section) still wins.
        handler.RequestHeaderEncodingSelector ??= static (_, _) => System.Text.Encoding.Latin1;
        handler.ResponseHeaderEncodingSelector ??= static (_, _) => System.Text.Encoding.Latin1;
    }
}
