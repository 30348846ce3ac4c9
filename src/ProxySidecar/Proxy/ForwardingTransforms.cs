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

    /// <summary>
    /// Request headers with which a client can make an app (or its framework: IIS URL rewrite, Symfony, Spring,
    /// method-override middleware) read another URL, method, scheme or host than the request's own. The cache keys
    /// on the request's own, so the app must not see these (removed unless Sidecar:Upstream:StripOverrideHeaders is false).
    /// </summary>
    public static readonly string[] OverrideRequestHeaders =
    [
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        "X-Forwarded-Scheme",
        "X-Forwarded-Server",
        "X-Host",
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

        // Read when the route is built, never per request (a change takes a restart).
        var upstream = context.Services.GetService<Configuration.LastGoodOptions<UpstreamOptions>>()?.Current;
        if (upstream?.StripOverrideHeaders ?? true)
        {
            foreach (var header in OverrideRequestHeaders)
            {
                context.AddRequestHeaderRemove(header);
            }
        }

        foreach (var header in upstream?.StripRequestHeaders ?? [])
        {
            context.AddRequestHeaderRemove(header.Trim());
        }

        context.AddRequestTransform(RemoveConnectionNominatedRequestHeaders);
        context.AddResponseTransform(RemoveConnectionNominatedResponseHeaders);

        // Other features' transforms (the client certificate header), after the removals above.
        foreach (var transform in context.Services.GetServices<IForwardingTransform>())
        {
            transform.Apply(context);
        }

        // Last, so that it sees whether a route's own transforms changed the path or the query.
        context.AddRequestTransform(KeepRequestTargetAsSent);
    }

    /// <summary>
    /// The app gets the request target byte for byte as the client sent it (%2F, the case of escapes,
    /// escaped unreserved characters) when it denotes the path the sidecar routed on. YARP would
    /// otherwise rebuild it from the decoded path, turning a client's %2F into %252F. When the
    /// target is not the routed path (dot segments Kestrel removed, a route's path or query
    /// transform), the rebuilt address is kept.
    /// </summary>
    internal static ValueTask KeepRequestTargetAsSent(RequestTransformContext context)
    {
        var request = context.HttpContext.Request;
        if (context.ProxyRequest.RequestUri is not null
            || request.PathBase.HasValue
            || !string.Equals(context.Path.Value, request.Path.Value, StringComparison.Ordinal)
            || !string.Equals(context.Query.QueryString.Value, request.QueryString.Value, StringComparison.Ordinal))
        {
            return ValueTask.CompletedTask;
        }

        var rawTarget = context.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget;
        if (RawTargetAddress(context.DestinationPrefix, rawTarget, request.Path.Value) is { } address)
        {
            context.ProxyRequest.RequestUri = address;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The destination address built from the raw target, or null when the raw target's path does
    /// not decode to <paramref name="routedPath"/> (the way Kestrel decodes: everything but %2F).
    /// </summary>
    internal static Uri? RawTargetAddress(string destinationPrefix, string? rawTarget, string? routedPath)
    {
        if (string.IsNullOrEmpty(rawTarget) || rawTarget[0] != '/' || routedPath is null)
        {
            return null;
        }

        var queryStart = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var rawPath = queryStart < 0 ? rawTarget : rawTarget[..queryStart];
        if (!string.Equals(DecodeLikeKestrel(rawPath), routedPath, StringComparison.Ordinal))
        {
            return null;
        }

        var prefix = destinationPrefix.EndsWith('/') ? destinationPrefix[..^1] : destinationPrefix;
        var options = new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true };
        return Uri.TryCreate(prefix + rawTarget, in options, out var address) ? address : null;
    }

    private static string DecodeLikeKestrel(string rawPath)
    {
        if (!rawPath.Contains('%', StringComparison.Ordinal))
        {
            return rawPath;
        }

        var decoded = new System.Text.StringBuilder(rawPath.Length);
        var start = 0;
        while (true)
        {
            var slash = rawPath.IndexOf("%2F", start, StringComparison.OrdinalIgnoreCase);
            var end = slash < 0 ? rawPath.Length : slash;
            decoded.Append(Uri.UnescapeDataString(rawPath[start..end]));
            if (slash < 0)
            {
                return decoded.ToString();
            }

            decoded.Append(rawPath, slash, 3);
            start = slash + 3;
        }
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

/// <summary>A feature's transforms, applied by <see cref="ForwardingTransforms"/> after the shared ones, whatever the registration order.</summary>
internal interface IForwardingTransform
{
    void Apply(TransformBuilderContext context);
}
