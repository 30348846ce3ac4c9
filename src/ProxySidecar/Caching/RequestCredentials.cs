using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Caching;

/// <summary>
/// What makes a request personal for the shared cache. RFC 9111 names only <c>Authorization</c>; an app that knows
/// nothing about shared caches personalises by session cookie, and may by the client certificate the sidecar
/// forwards, so those count too. A request with any of them is neither answered from nor stored into the cache
/// unless the response explicitly allows sharing, or the rule says its cookies do not matter.
/// </summary>
[Flags]
internal enum RequestCredentials
{
    None = 0,

    /// <summary>A <c>Cookie</c> with at least one cookie the rule does not ignore.</summary>
    Cookie = 1,

    /// <summary>An <c>Authorization</c> field (RFC 9111 §3.5).</summary>
    Authorization = 2,

    /// <summary>A client certificate presented on the connection (mTLS).</summary>
    ClientCertificate = 4,
}

internal static class Credentials
{
    public static RequestCredentials Of(HttpContext context, CompiledRule rule)
    {
        var headers = context.Request.Headers;
        var credentials = RequestCredentials.None;
        if (headers.ContainsKey(HeaderNames.Authorization))
        {
            credentials |= RequestCredentials.Authorization;
        }

        if (headers.TryGetValue(HeaderNames.Cookie, out var cookie) && !string.IsNullOrWhiteSpace(cookie.ToString()) && !rule.IgnoresAllCookies(cookie))
        {
            credentials |= RequestCredentials.Cookie;
        }

        if (context.Connection.ClientCertificate is not null)
        {
            credentials |= RequestCredentials.ClientCertificate;
        }

        return credentials;
    }

    /// <summary>The Cache-Status detail naming why a request with credentials was not served or its response not stored.</summary>
    public static string Detail(RequestCredentials credentials) =>
        credentials == RequestCredentials.Authorization ? "authorization" : "credentials";
}
