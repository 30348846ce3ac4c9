using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ProxySidecar.Proxy;

namespace ProxySidecar.Limits;

/// <summary>The answers of the limits: 429 and 503 with Retry-After and a small application/problem+json body, never stored.</summary>
internal static class LimitResponses
{
    /// <summary>Retry-After in whole seconds, rounded up, at least 1.</summary>
    public static string RetryAfterSeconds(TimeSpan wait)
    {
        var seconds = wait <= TimeSpan.Zero ? 1 : (long)Math.Ceiling(wait.TotalSeconds);
        return Math.Max(1, seconds).ToString(CultureInfo.InvariantCulture);
    }

    public static async Task WriteAsync(HttpContext context, int status, string title, string detail, TimeSpan retryAfter)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = status;
        response.Headers.RetryAfter = RetryAfterSeconds(retryAfter);
        response.Headers.CacheControl = "no-store";
        response.ContentType = "application/problem+json";
        var traceId = Activity.Current?.TraceId.ToHexString() ?? context.TraceIdentifier;
        var body = new ProblemBody("about:blank", title, status, detail, traceId);
        try
        {
            await JsonSerializer.SerializeAsync(response.Body, body, ProblemJsonContext.Default.ProblemBody, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
    }
}
