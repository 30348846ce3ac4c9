using System.Globalization;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.Extensions.Options;
using ProxySidecar.Hosting;

namespace ProxySidecar.Tls;

/// <summary>Answers every request on the redirect listener with 308 to the same path and query over HTTPS.</summary>
internal sealed class HttpsRedirectMiddleware(RequestDelegate next, IOptions<HostingOptions> hosting)
{
    private readonly int? _port = hosting.Value.PublicHttpsPort == 443 ? null : hosting.Value.PublicHttpsPort;

    public Task InvokeAsync(HttpContext context)
    {
        if (!Listeners.IsRedirect(context))
        {
            return next(context);
        }

        var request = context.Request;
        var host = request.Host.HasValue ? request.Host.Host : string.Empty;
        if (host.Length == 0)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return Task.CompletedTask;
        }

        var authority = _port is { } port ? new HostString(host, port) : new HostString(host);
        context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
        context.Response.Headers.Location = UriHelper.BuildAbsolute("https", authority, request.PathBase, request.Path, request.QueryString);
        context.Response.Headers.CacheControl = "no-store";
        return Task.CompletedTask;
    }
}

/// <summary>Adds Strict-Transport-Security to responses on the public HTTPS listener (replacing an app's own).</summary>
internal sealed class HstsMiddleware
{
    private readonly RequestDelegate _next;
    private readonly string _value;
    private readonly Func<object, Task> _apply;

    public HstsMiddleware(RequestDelegate next, IOptions<TlsOptions> tls)
    {
        _next = next;
        _value = HeaderValue(tls.Value.Hsts) ?? throw new InvalidOperationException("HSTS is not configured.");
        _apply = state =>
        {
            ((HttpContext)state).Response.Headers.StrictTransportSecurity = _value;
            return Task.CompletedTask;
        };
    }

    /// <summary>The header value, or null when HSTS is off.</summary>
    public static string? HeaderValue(HstsOptions? hsts)
    {
        if (hsts?.MaxAge is not { } maxAge)
        {
            return null;
        }

        var value = "max-age=" + ((long)maxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        if (hsts.IncludeSubDomains)
        {
            value += "; includeSubDomains";
        }

        if (hsts.Preload)
        {
            value += "; preload";
        }

        return value;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.IsHttps && !Admin.AdminListener.IsAdmin(context) && !Listeners.IsRedirect(context))
        {
            context.Response.OnStarting(_apply, context);
        }

        return _next(context);
    }
}
