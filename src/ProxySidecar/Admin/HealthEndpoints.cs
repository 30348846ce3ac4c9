using System.Text.Json;
using System.Text.Json.Serialization;

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
/// GET /healthz/ready: 200 when every feature's <see cref="IReadinessCheck"/> is content (the process is serving and
/// not draining, a certificate is loaded, the app answered recently, ...); 503 with the first reason otherwise.
/// </summary>
internal sealed class ReadinessEndpoint(IEnumerable<IReadinessCheck> checks) : IAdminEndpoint
{
    private readonly IReadinessCheck[] _checks = checks.ToArray();

    public string Method => HttpMethods.Get;

    public string Path => "/healthz/ready";

    /// <summary>The first reason a feature gives (in the order the features registered their checks), or null when ready.</summary>
    public string? NotReadyReason()
    {
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
