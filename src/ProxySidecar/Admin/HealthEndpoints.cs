using System.Text.Json;
using System.Text.Json.Serialization;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;
using ProxySidecar.Proxy;
using ProxySidecar.Tls;

namespace ProxySidecar.Admin;

/// <summary>GET /healthz/live: 200 while the process serves.</summary>
internal sealed class LivenessEndpoint : IAdminEndpoint
{
    public string Method => HttpMethods.Get;

    public string Path => "/healthz/live";

    public Task HandleAsync(HttpContext context)
    {
        context.Response.ContentType = "text/plain";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync("ok\n");
    }
}

/// <summary>
/// GET /healthz/ready: 200 when a certificate is loaded and the app answered recently; 503 with a JSON
/// reason otherwise, and from the moment shutdown starts.
/// </summary>
internal sealed class ReadinessEndpoint(
    SidecarLifecycle lifecycle,
    CertificateStore certificates,
    UpstreamHealth upstream,
    LastGoodOptions<UpstreamOptions> upstreamOptions,
    IEnumerable<IReadinessCheck> checks) : IAdminEndpoint
{
    private readonly IReadinessCheck[] _checks = checks.ToArray();

    public string Method => HttpMethods.Get;

    public string Path => "/healthz/ready";

    public string? NotReadyReason()
    {
        if (lifecycle.State == SidecarState.Draining)
        {
            return "draining: shutdown has started";
        }

        if (lifecycle.State == SidecarState.Starting)
        {
            return "starting";
        }

        if (certificates.Current is null)
        {
            return "no TLS certificate loaded";
        }

        // The app counts as up when it answered within three probe intervals.
        if (!upstream.IsUp(upstreamOptions.Current))
        {
            return $"the app at {upstreamOptions.Current.Address} has not answered recently ({upstream.LastProbe.Detail})";
        }

        foreach (var check in _checks)
        {
            if (check.NotReadyReason() is { } reason)
            {
                return reason;
            }
        }

        return null;
    }

    public async Task HandleAsync(HttpContext context)
    {
        var reason = NotReadyReason();
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentType = "application/json";
        context.Response.StatusCode = reason is null ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        var body = new ReadinessBody(reason is null ? "ready" : "not ready", reason);
        await JsonSerializer.SerializeAsync(context.Response.Body, body, AdminJsonContext.Default.ReadinessBody, context.RequestAborted).ConfigureAwait(false);
    }
}

internal sealed record ReadinessBody(string Status, string? Reason);

[JsonSerializable(typeof(ReadinessBody))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
