using System.Text.Json.Nodes;
using ProxySidecar.Admin;
using ProxySidecar.Configuration;
using Yarp.ReverseProxy;

namespace ProxySidecar.Proxy;

/// <summary>
/// The "upstream" section of /status, and readiness: not ready while the app has not answered recently (within
/// three probe intervals).
/// </summary>
internal sealed class UpstreamStatus(UpstreamHealth upstream, LastGoodOptions<UpstreamOptions> options, IProxyStateLookup proxyState) : IStatusContributor, IReadinessCheck
{
    public string Name => "upstream";

    public string? NotReadyReason()
    {
        var current = options.Current;
        return upstream.IsUp(current) ? null : $"the app at {current.Address} has not answered recently ({upstream.LastProbe.Detail})";
    }

    public object? GetStatus()
    {
        var probe = upstream.LastProbe;
        return new JsonObject
        {
            ["address"] = options.Current.Address,
            ["destinations"] = Destinations(),
            ["up"] = upstream.IsUp(options.Current),
            ["lastAnswered"] = upstream.LastAnswered,
            ["lastProbe"] = new JsonObject
            {
                ["at"] = probe.At == DateTimeOffset.MinValue ? null : probe.At,
                ["succeeded"] = probe.Succeeded,
                ["detail"] = probe.Detail,
            },
        };
    }

    /// <summary>
    /// What the proxy routes to right now, read from YARP's applied state rather than from the options: after a
    /// configuration change, a destination listed here is the one the next request goes to.
    /// </summary>
    private JsonObject Destinations()
    {
        var destinations = new JsonObject();
        foreach (var cluster in proxyState.GetClusters())
        {
            foreach (var (id, destination) in cluster.Destinations)
            {
                destinations[$"{cluster.ClusterId}/{id}"] = destination.Model.Config.Address;
            }
        }

        return destinations;
    }
}
