using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxySidecar.Proxy;

/// <summary>
/// What every route does to headers, whether it came from the short form or a full ReverseProxy section:
/// the client's Host goes to the app, X-Forwarded-For/Proto/Host are set by the sidecar (client values
/// replaced, never appended to), and headers a client may use to impersonate the sidecar are removed.
/// </summary>
internal static class ForwardingTransforms
{
    /// <summary>Request headers a client must never be able to send to the app.</summary>
    public static readonly string[] SpoofableRequestHeaders =
    [
        "Forwarded",
        "X-Forwarded-Port",
        "X-Forwarded-Prefix",
        "X-Real-IP",
        "X-Forwarded-Client-Cert",
    ];

    public static void Apply(TransformBuilderContext context)
    {
        context.UseDefaultForwarders = false;
        context.AddOriginalHost(useOriginal: true);
        context.AddXForwardedFor(action: ForwardedTransformActions.Set);
        context.AddXForwardedProto(action: ForwardedTransformActions.Set);
        context.AddXForwardedHost(action: ForwardedTransformActions.Set);
        foreach (var header in SpoofableRequestHeaders)
        {
            context.AddRequestHeaderRemove(header);
        }

        context.AddRequestTransform(RemoveConnectionNominatedRequestHeaders);
        context.AddResponseTransform(RemoveConnectionNominatedResponseHeaders);
    }

    // RFC 9110 §7.6.1: a proxy removes the fields a Connection header names. The connection
    // headers themselves are hop-by-hop and already dropped by the forwarder.
    private static ValueTask RemoveConnectionNominatedRequestHeaders(RequestTransformContext context)
    {
        var connection = context.HttpContext.Request.Headers.Connection;
        if (connection.Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        foreach (var name in Tokens(connection))
        {
            if (!IsProtected(name))
            {
                context.ProxyRequest.Headers.Remove(name);
                context.ProxyRequest.Content?.Headers.Remove(name);
            }
        }

        return ValueTask.CompletedTask;
    }

    private static ValueTask RemoveConnectionNominatedResponseHeaders(ResponseTransformContext context)
    {
        if (context.ProxyResponse is null || !context.ProxyResponse.Headers.TryGetValues(HeaderNames.Connection, out var values))
        {
            return ValueTask.CompletedTask;
        }

        foreach (var name in Tokens(new StringValues(values.ToArray())))
        {
            if (!IsProtected(name))
            {
                context.HttpContext.Response.Headers.Remove(name);
            }
        }

        return ValueTask.CompletedTask;
    }

    private static bool IsProtected(string name) =>
        name.Equals("close", StringComparison.OrdinalIgnoreCase)
        || name.Equals("keep-alive", StringComparison.OrdinalIgnoreCase)
        || name.Equals("upgrade", StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase);

    private static IEnumerable<string> Tokens(StringValues values)
    {
        foreach (var value in values)
        {
            if (value is null)
            {
                continue;
            }

            foreach (var token in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                yield return token;
            }
        }
    }
}
