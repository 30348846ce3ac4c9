using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Proxy;

/// <summary>
/// The short form: one catch-all route to <see cref="UpstreamOptions.Address"/>. Rebuilt when the
/// options reload; a reload that does not validate keeps the last good route (the options monitor
/// throws for it, and the previous snapshot stays published).
/// </summary>
internal sealed class SidecarProxyConfigProvider : IProxyConfigProvider, IDisposable
{
    public const string RouteId = "app";
    public const string ClusterId = "app";
    public const string DestinationId = "app";

    private readonly ILogger<SidecarProxyConfigProvider> _logger;
    private readonly IDisposable? _subscription;
    private volatile Snapshot _current;
    private (string Address, TimeSpan ResponseTimeout, UpstreamProtocol Protocol, int? MaxConnections) _builtFrom;

    public SidecarProxyConfigProvider(Configuration.LastGoodOptions<UpstreamOptions> options, ILogger<SidecarProxyConfigProvider> logger)
    {
        _logger = logger;
        _current = new Snapshot(Build(options.Current));
        _builtFrom = BuildKey(options.Current);
        _subscription = options.Subscribe(Reload);
    }

    public IProxyConfig GetConfig() => _current;

    public void Dispose() => _subscription?.Dispose();

    internal static (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Build(UpstreamOptions upstream)
    {
        var http2 = upstream.Protocol == UpstreamProtocol.Http2;
        var route = new RouteConfig
        {
            RouteId = RouteId,
            ClusterId = ClusterId,
            Match = new RouteMatch { Path = "/{**catch-all}" },
        };
        var cluster = new ClusterConfig
        {
            ClusterId = ClusterId,
            Destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase)
            {
                [DestinationId] = new() { Address = upstream.Address },
            },
            HttpRequest = new ForwarderRequestConfig
            {
                ActivityTimeout = upstream.ResponseTimeout,
                Version = http2 ? System.Net.HttpVersion.Version20 : System.Net.HttpVersion.Version11,
                VersionPolicy = http2 ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
                AllowResponseBuffering = false,
            },
            HttpClient = new HttpClientConfig
            {
                MaxConnectionsPerServer = upstream.MaxConnections,
                EnableMultipleHttp2Connections = true,
                DangerousAcceptAnyServerCertificate = false,
            },
        };
        return ([route], [cluster]);
    }

    private void Reload(UpstreamOptions upstream)
    {
        // Any configuration reload (another section, another file) lands here; rebuild the route only
        // when what it is built from changed, so YARP is not reloaded and the log does not claim a change.
        var key = BuildKey(upstream);
        if (key == _builtFrom)
        {
            return;
        }

        _builtFrom = key;
        var previous = _current;
        var next = new Snapshot(Build(upstream));
        _current = next;
        ProxyLog.UpstreamChanged(_logger, upstream.Address);
        previous.SignalChange();
    }

    /// <summary>Everything <see cref="Build"/> reads.</summary>
    private static (string Address, TimeSpan ResponseTimeout, UpstreamProtocol Protocol, int? MaxConnections) BuildKey(UpstreamOptions upstream) =>
        (upstream.Address, upstream.ResponseTimeout, upstream.Protocol, upstream.MaxConnections);

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Lives as long as the snapshot; cancelled once when replaced.")]
    private sealed class Snapshot : IProxyConfig
    {
        private readonly CancellationTokenSource _changed = new();

        public Snapshot((IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) config)
        {
            Routes = config.Routes;
            Clusters = config.Clusters;
            ChangeToken = new CancellationChangeToken(_changed.Token);
        }

        public IReadOnlyList<RouteConfig> Routes { get; }

        public IReadOnlyList<ClusterConfig> Clusters { get; }

        public IChangeToken ChangeToken { get; }

        public void SignalChange() => _changed.Cancel();
    }
}
