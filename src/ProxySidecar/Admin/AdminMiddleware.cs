using System.Collections.Frozen;
using Microsoft.AspNetCore.Http.Features;

namespace ProxySidecar.Admin;

/// <summary>
/// First in the pipeline. Requests on the admin listener are answered here (and left out of the
/// http.server.* metrics) and never reach the app;
/// requests on the public listener pass through untouched, so an app's own /status or /metrics keep working.
/// </summary>
internal sealed class AdminMiddleware
{
    private readonly RequestDelegate _next;
    private readonly FrozenDictionary<string, IAdminEndpoint[]> _byPath;

    public AdminMiddleware(RequestDelegate next, IEnumerable<IAdminEndpoint> endpoints)
    {
        _next = next;
        _byPath = endpoints
            .GroupBy(e => e.Path, StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!AdminListener.IsAdmin(context))
        {
            return _next(context);
        }

        // Probes, scrapes and purges are not traffic: readiness 503s and scrapes stay out of http.server.*.
        if (context.Features.Get<IHttpMetricsTagsFeature>() is { } metrics)
        {
            metrics.MetricsDisabled = true;
        }

        var path = context.Request.Path.Value ?? "/";
        if (!_byPath.TryGetValue(path, out var candidates))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        foreach (var endpoint in candidates)
        {
            if (HttpMethods.Equals(endpoint.Method, context.Request.Method)
                || (HttpMethods.IsHead(context.Request.Method) && HttpMethods.IsGet(endpoint.Method)))
            {
                return endpoint.HandleAsync(context);
            }
        }

        context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        context.Response.Headers.Allow = string.Join(", ", candidates.Select(c => c.Method));
        return Task.CompletedTask;
    }
}
