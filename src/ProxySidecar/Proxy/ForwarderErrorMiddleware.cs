using System.Diagnostics;
using System.Text.Json;
using ProxySidecar.Telemetry;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Proxy;

/// <summary>
/// Runs inside the YARP pipeline: when the app could not be reached (502) or was too slow (504) and
/// nothing has been sent yet, answers with a small application/problem+json body carrying the trace id.
/// </summary>
internal sealed class ForwarderErrorMiddleware(RequestDelegate next, UpstreamHealth health, ILogger<ForwarderErrorMiddleware> logger, SidecarMetrics? metrics = null)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context).ConfigureAwait(false);

        var error = context.GetForwarderErrorFeature();
        if (error is null)
        {
            health.MarkAnswered();
            return;
        }

        var traceId = Activity.Current?.TraceId.ToHexString() ?? context.TraceIdentifier;
        if (IsClientSide(error.Error))
        {
            // The client went away, or its body was slow, cut off, malformed or too large: the access log has the
            // request; a Warning per request would let any client flood the log.
            ProxyLog.ForwardStoppedByClient(logger, error.Error, context.Request.Method, context.Request.Path, context.Response.StatusCode, traceId);
        }
        else
        {
            ProxyLog.ForwardFailed(logger, error.Exception, error.Error, context.Request.Method, context.Request.Path, context.Response.StatusCode, traceId);
        }

        metrics?.ForwarderFailed(error.Error);
        var connectTimedOut = IsConnectTimeout(error.Exception);
        if (MeansAppUnreachable(error.Error, connectTimedOut))
        {
            health.MarkFailed($"forwarding failed: the app could not be reached ({error.Error})");
        }

        if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        var (status, title, detail) = Describe(error.Error, context.Response.StatusCode, connectTimedOut, ClientBodyStatus(error.Exception));
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        context.Response.Headers.CacheControl = "no-store";
        var body = new ProblemBody(
            Type: "about:blank",
            Title: title,
            Status: status,
            Detail: detail,
            TraceId: traceId);
        await JsonSerializer.SerializeAsync(context.Response.Body, body, ProblemJsonContext.Default.ProblemBody, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>
    /// YARP reports a connect timeout as a timed-out request (504); the app was not reached at all, so it is
    /// answered like any unreachable app (502). The handler marks it with an inner <see cref="TimeoutException"/>.
    /// </summary>
    internal static bool IsConnectTimeout(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is TimeoutException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Failures caused by the client, not the app: logged at Debug, never against readiness.</summary>
    internal static bool IsClientSide(ForwarderError error) => error is ForwarderError.RequestCanceled
        or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
        or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient
        or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeRequestClient
        or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeResponseClient;

    /// <summary>
    /// The status Kestrel gave a request body it refused while it was being forwarded: 413 over the size limit, 408
    /// too slow, 400 malformed (e.g. a bad chunk size); null when the body was not refused.
    /// </summary>
    internal static int? ClientBodyStatus(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is BadHttpRequestException bad)
            {
                return bad.StatusCode;
            }
        }

        return null;
    }

    /// <summary>
    /// Only a failure to reach the app counts against readiness. One slow or broken response (a 504, a body
    /// cut off) says something about that request, not that the pod should leave the load balancer.
    /// </summary>
    internal static bool MeansAppUnreachable(ForwarderError error, bool connectTimedOut) =>
        error == ForwarderError.Request || (error == ForwarderError.RequestTimedOut && connectTimedOut);

    internal static (int Status, string Title, string Detail) Describe(ForwarderError error, int status, bool connectTimedOut = false, int? clientBodyStatus = null) => error switch
    {
        ForwarderError.RequestBodyClient when clientBodyStatus == StatusCodes.Status413PayloadTooLarge => (StatusCodes.Status413PayloadTooLarge, "Content Too Large", "The request body is larger than this server accepts."),
        ForwarderError.RequestBodyClient when clientBodyStatus == StatusCodes.Status408RequestTimeout => (StatusCodes.Status408RequestTimeout, "Request Timeout", "The request body arrived too slowly."),
        ForwarderError.RequestTimedOut when connectTimedOut => (StatusCodes.Status502BadGateway, "Bad Gateway", "The app did not accept a connection in time."),
        ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout, "Gateway Timeout", "The app did not answer in time."),
        ForwarderError.Request => (StatusCodes.Status502BadGateway, "Bad Gateway", "The app could not be reached."),
        ForwarderError.ResponseHeaders or ForwarderError.ResponseBodyDestination => (StatusCodes.Status502BadGateway, "Bad Gateway", "The app's response was invalid or broke off."),
        ForwarderError.RequestBodyClient or ForwarderError.RequestBodyCanceled => (StatusCodes.Status400BadRequest, "Bad Request", "The request body could not be read from the client."),
        ForwarderError.UpgradeRequestDestination or ForwarderError.UpgradeResponseDestination => (StatusCodes.Status502BadGateway, "Bad Gateway", "The app broke off the upgraded connection."),
        ForwarderError.NoAvailableDestinations => (StatusCodes.Status503ServiceUnavailable, "Service Unavailable", "No app destination is available."),
        _ => (status >= 400 ? status : StatusCodes.Status502BadGateway, status == StatusCodes.Status504GatewayTimeout ? "Gateway Timeout" : "Bad Gateway", "The request to the app failed."),
    };
}

internal sealed record ProblemBody(string Type, string Title, int Status, string Detail, string TraceId);

[System.Text.Json.Serialization.JsonSerializable(typeof(ProblemBody))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class ProblemJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
