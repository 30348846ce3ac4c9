using Microsoft.Extensions.Options;
using ProxySidecar.Hosting;

namespace ProxySidecar.Proxy;

/// <summary>
/// Before the cache and the app see a request: a Host (or HTTP/2 :authority) that is not a valid host with an optional
/// port from 0 to 65535 is answered 400 and never forwarded (the forwarder cannot represent it, and the app would get
/// two Host headers), and request header names with an underscore are dropped unless
/// <see cref="HostingOptions.AllowUnderscoresInHeaders"/> is set (as nginx does by default: a proxy in front of a CGI-
/// style app, where <c>X_User</c> and <c>X-User</c> both become <c>HTTP_X_USER</c>, must not let a client send the
/// underscore twin of a header the proxy itself sets or strips).
/// </summary>
internal sealed class RequestHeadGuardMiddleware(RequestDelegate next, IOptions<HostingOptions> options)
{
    private readonly bool _dropUnderscoreHeaders = !options.Value.AllowUnderscoresInHeaders;

    public Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (!IsValidHost(headers.Host.ToString()))
        {
            return RejectAsync(context);
        }

        if (_dropUnderscoreHeaders)
        {
            DropUnderscoreHeaders(headers);
        }

        return next(context);
    }

    /// <summary>
    /// RFC 9110 §7.2 Host: uri-host [ ":" port ]. Kestrel has already checked the characters; what it lets through and
    /// this rejects is a port that is not 1 to 5 digits of at most 65535, and an empty host. An absent Host (HTTP/2
    /// without :authority) is left to the app.
    /// </summary>
    internal static bool IsValidHost(string host)
    {
        if (host.Length == 0)
        {
            return true;
        }

        int portStart;
        if (host[0] == '[')
        {
            // An IP literal: "[::1]" or "[::1]:8443".
            var close = host.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close == host.Length - 1)
            {
                return close == host.Length - 1;
            }

            if (host[close + 1] != ':')
            {
                return false;
            }

            portStart = close + 1;
        }
        else
        {
            // A name or an IPv4 address holds no ':' but the one before the port.
            portStart = host.IndexOf(':', StringComparison.Ordinal);
            if (portStart < 0)
            {
                return true;
            }
        }

        var port = host.AsSpan(portStart + 1);
        if (portStart == 0 || port.Length is 0 or > 5)
        {
            return false;
        }

        foreach (var c in port)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) <= 65535;
    }

    internal static void DropUnderscoreHeaders(IHeaderDictionary headers)
    {
        List<string>? names = null;
        foreach (var header in headers)
        {
            if (header.Key.Contains('_', StringComparison.Ordinal))
            {
                (names ??= []).Add(header.Key);
            }
        }

        if (names is not null)
        {
            foreach (var name in names)
            {
                headers.Remove(name);
            }
        }
    }

    private static Task RejectAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync("Bad Request: the Host header is not a valid host and port.\n");
    }
}
