using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ProxySidecar.Admin;

/// <summary>GET /status: what an operator asks first, as JSON. Tests wait on it instead of sleeping.</summary>
internal sealed class StatusEndpoint(IEnumerable<IStatusContributor> contributors) : IAdminEndpoint
{
    private static readonly JsonSerializerOptions Json = StatusJsonContext.Default.Options;
    private static readonly string Version =
        typeof(StatusEndpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private readonly IStatusContributor[] _contributors = contributors.ToArray();

    public string Method => HttpMethods.Get;

    public string Path => "/status";

    /// <summary>The version, then each feature's section in the order the features registered them.</summary>
    public JsonObject Build()
    {
        var status = new JsonObject { ["version"] = Version };
        foreach (var contributor in _contributors)
        {
            var section = contributor.GetStatus();
            status[contributor.Name] = section is null ? null : section as JsonNode ?? JsonSerializer.SerializeToNode(section, section.GetType(), StatusJsonContext.Default);
        }

        return status;
    }

    public async Task HandleAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsync(Build().ToJsonString(Json), context.RequestAborted).ConfigureAwait(false);
    }
}
