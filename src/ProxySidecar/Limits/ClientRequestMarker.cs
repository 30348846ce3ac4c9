namespace ProxySidecar.Limits;

/// <summary>
/// Marks a request as a client's as it enters the public pipeline. Background refreshes of the cache
/// (stale-while-revalidate) are requests the sidecar makes itself on a context of their own: they reach the
/// forwarder without this mark, which is how the cap on the app tells them apart (<see cref="AppConcurrencyMiddleware"/>).
/// </summary>
internal sealed class ClientRequestMarker(RequestDelegate next)
{
    private static readonly ClientRequestFeature Mark = new();

    public Task InvokeAsync(HttpContext context)
    {
        context.Features.Set(Mark);
        return next(context);
    }

    /// <summary>True for a request that came in from a client; false for one the sidecar made (a background refresh).</summary>
    public static bool IsClientRequest(HttpContext context) => context.Features.Get<ClientRequestFeature>() is not null;

    /// <summary>The mark; one shared instance, it carries nothing.</summary>
    internal sealed class ClientRequestFeature;
}
