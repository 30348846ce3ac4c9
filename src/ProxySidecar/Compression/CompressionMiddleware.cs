using Microsoft.AspNetCore.Http.Features;

namespace ProxySidecar.Compression;

/// <summary>
/// Compression in front of the cache. For each request on a path where compression is on, it maps the client's
/// validators of compressed representations back to the app's (<see cref="EncodedValidators"/>), tells the cache which
/// coding the client accepts (<see cref="CompressionFeature"/>: the cache serves its stored representations itself),
/// and compresses responses that pass through uncompressed as they stream (<see cref="CompressingResponseBody"/>).
/// Upgrades (WebSockets) and HEAD requests are left alone.
/// </summary>
internal sealed class CompressionMiddleware(RequestDelegate next, CompressionPolicyProvider policies, CompressionMetrics metrics)
{
    public Task InvokeAsync(HttpContext context)
    {
        var policy = policies.Current;
        if (!policy.Enabled)
        {
            return next(context);
        }

        var request = context.Request;
        var rule = policy.Match(request.Path.Value ?? "/");
        if (!rule.Enabled)
        {
            return next(context);
        }

        // Upgrades (WebSockets) carry no body to compress: they pass untouched, their validators included.
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true }
            || context.Features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true })
        {
            return next(context);
        }

        var mapped = EncodedValidators.MapRequest(request.Headers);

        var feature = new CompressionFeature(policy, rule, Compressibility.Accepted(request), Compressibility.HasCredentials(context), mapped);
        context.Features.Set(feature);
        return HttpMethods.IsHead(request.Method) ? next(context) : CompressAsync(context, feature);
    }

    private async Task CompressAsync(HttpContext context, CompressionFeature feature)
    {
        var original = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        var body = new CompressingResponseBody(original, context, feature, metrics);
        context.Features.Set<IHttpResponseBodyFeature>(body);
        try
        {
            await next(context).ConfigureAwait(false);
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await body.FinishAsync().ConfigureAwait(false);
            }
            else
            {
                body.Abandon();
            }
        }
        catch
        {
            body.Abandon();
            throw;
        }
        finally
        {
            context.Features.Set(original);
        }
    }
}
