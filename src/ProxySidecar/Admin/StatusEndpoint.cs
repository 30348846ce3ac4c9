using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;
using ProxySidecar.Proxy;
using ProxySidecar.Tls;
using Yarp.ReverseProxy;

namespace ProxySidecar.Admin;

/// <summary>GET /status: what an operator asks first, as JSON. Tests wait on it instead of sleeping.</summary>
internal sealed class StatusEndpoint(
    SidecarLifecycle lifecycle,
    CertificateStore certificates,
    UpstreamHealth upstream,
    LastGoodOptions<UpstreamOptions> upstreamOptions,
    IProxyStateLookup proxyState,
    IEnumerable<IStatusContributor> contributors) : IAdminEndpoint
{
    private static readonly JsonSerializerOptions Json = StatusJsonContext.Default.Options;
    private static readonly string Version =
        typeof(StatusEndpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private readonly IStatusContributor[] _contributors = contributors.ToArray();

    public string Method => HttpMethods.Get;

    public string Path => "/status";

    public JsonObject Build()
    {
        var certificate = certificates.Current;
        var reload = certificates.LastReload;
        var reloadError = certificates.LastError;
        var probe = upstream.LastProbe;
        var status = new JsonObject
        {
            ["version"] = Version,
            ["state"] = lifecycle.State.ToString().ToLowerInvariant(),
            ["uptimeSeconds"] = Math.Round(lifecycle.Uptime.TotalSeconds, 1),
            ["certificate"] = certificate is null ? null : new JsonObject
            {
                ["subject"] = certificate.Subject,
                ["dnsNames"] = new JsonArray(certificate.DnsNames.Select(n => (JsonNode?)n).ToArray()),
                ["thumbprintSha256"] = certificate.Thumbprint,
                ["notBefore"] = certificate.NotBefore,
                ["notAfter"] = certificate.NotAfter,
                ["source"] = certificate.Source,
                ["lastReload"] = reload is null ? null : new JsonObject
                {
                    ["at"] = reload.At,
                    ["result"] = reload.Outcome,
                    ["error"] = reload.Error,
                },
                ["lastError"] = reloadError is null ? null : new JsonObject
                {
                    ["at"] = reloadError.At,
                    ["error"] = reloadError.Error,
                },
                ["reloads"] = new JsonObject
                {
                    ["succeeded"] = certificates.ReloadsSucceeded,
                    ["failed"] = certificates.ReloadsFailed,
                },
            },
            ["upstream"] = new JsonObject
            {
                ["address"] = upstreamOptions.Current.Address,
                ["destinations"] = Destinations(),
                ["lastAnswered"] = upstream.LastAnswered,
                ["lastProbe"] = new JsonObject
                {
                    ["at"] = probe.At == DateTimeOffset.MinValue ? null : probe.At,
                    ["succeeded"] = probe.Succeeded,
                    ["detail"] = probe.Detail,
                },
            },
        };
        foreach (var contributor in _contributors)
        {
            var section = contributor.GetStatus();
            status[contributor.Name] = JsonSerializer.SerializeToNode(section, section.GetType(), StatusJsonContext.Default);
        }

        return status;
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

    public async Task HandleAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(Build().ToJsonString(Json), context.RequestAborted).ConfigureAwait(false);
    }
}
