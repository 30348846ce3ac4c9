using System.Globalization;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Stores;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Caching;

/// <summary>Writes what the cache answers itself: a stored entry (or a 304 for the client's own conditions), and the only-if-cached 504.</summary>
internal static class ResponseWriter
{
    private static readonly string[] SmallAges = [.. Enumerable.Range(0, 512).Select(i => i.ToString(CultureInfo.InvariantCulture))];

    /// <summary>Serves <paramref name="entry"/>: its status and headers, Age, this cache's Cache-Status and the body; a 304 when the client's conditions match.</summary>
    public static async Task ServeAsync(HttpContext context, CacheEntry entry, EntryView view, string cacheStatus)
    {
        var request = context.Request;
        var response = context.Response;
        var notModified = entry.Status == StatusCodes.Status200OK && Validators.ClientConditionMatches(request, entry);
        if (!notModified && ByteRange.TryGet(request, entry, out var range))
        {
            await ServeRangeAsync(context, entry, view, cacheStatus, range).ConfigureAwait(false);
            return;
        }

        response.StatusCode = notModified ? StatusCodes.Status304NotModified : entry.Status;
        var headers = response.Headers;
        foreach (var header in entry.Headers)
        {
            if (!notModified || IsNotModifiedHeader(header.Key))
            {
                headers[header.Key] = header.Value;
            }
        }

        headers.Age = AgeText(view.AgeMs);
        headers.Append(CacheStatusText.Header, cacheStatus);
        if (notModified || entry.Status is 204 or 304)
        {
            headers.ContentLength = null;
            return;
        }

        headers.ContentLength = entry.Body.Length;
        if (!HttpMethods.IsHead(request.Method) && entry.Body.Length > 0)
        {
            await response.Body.WriteAsync(entry.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>RFC 9110 §14: a 206 with the range of the stored body, or a 416 when the range lies beyond it.</summary>
    private static async Task ServeRangeAsync(HttpContext context, CacheEntry entry, EntryView view, string cacheStatus, ByteRange range)
    {
        var response = context.Response;
        var headers = response.Headers;
        var length = entry.Body.Length;
        if (!range.Satisfiable)
        {
            response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
            headers.ContentRange = range.ContentRange(length);
            headers.Age = AgeText(view.AgeMs);
            headers.Append(CacheStatusText.Header, cacheStatus);
            headers.ContentLength = 0;
            return;
        }

        response.StatusCode = StatusCodes.Status206PartialContent;
        foreach (var header in entry.Headers)
        {
            if (!header.Key.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase))
            {
                headers[header.Key] = header.Value;
            }
        }

        headers.ContentRange = range.ContentRange(length);
        headers.Age = AgeText(view.AgeMs);
        headers.Append(CacheStatusText.Header, cacheStatus);
        headers.ContentLength = range.Length;
        await response.Body.WriteAsync(entry.Body.Slice((int)range.First, (int)range.Length), context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>RFC 9111 §5.2.1.7: nothing stored may answer an only-if-cached request.</summary>
    public static async Task GatewayTimeoutAsync(HttpContext context, string cacheName)
    {
        context.Response.StatusCode = StatusCodes.Status504GatewayTimeout;
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.Append(CacheStatusText.Header, CacheStatusText.DetailOnly(cacheName, "only-if-cached"));
        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync("Not in cache (only-if-cached).", context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Adds this cache's Cache-Status when a response the cache did not write starts.</summary>
    public static void AppendOnStarting(HttpContext context, string value) =>
        context.Response.OnStarting(static state =>
        {
            var (ctx, status) = ((HttpContext, string))state;
            ctx.Response.Headers.Append(CacheStatusText.Header, status);
            return Task.CompletedTask;
        }, (context, value));

    /// <summary>Forgets a held-back response from the app (a 304 or an error) before the cache answers instead.</summary>
    public static void Reset(HttpContext context)
    {
        var response = context.Response;
        response.Headers.Clear();
        response.StatusCode = StatusCodes.Status200OK;
        context.Features.Set<IForwarderErrorFeature>(null);
    }

    /// <summary>Lets the client's response finish, so that a store write that follows never holds it up.</summary>
    public static async Task CompleteAsync(HttpContext context)
    {
        try
        {
            await context.Response.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception error) when (error is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client went away; the entry is still good.
        }
    }

    private static string AgeText(long ageMs)
    {
        var seconds = Freshness.AgeSeconds(ageMs);
        return seconds < SmallAges.Length ? SmallAges[seconds] : seconds.ToString(CultureInfo.InvariantCulture);
    }

    private static bool IsNotModifiedHeader(string name) =>
        name.Equals(HeaderNames.ETag, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.CacheControl, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentLocation, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Date, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Expires, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Vary, StringComparison.OrdinalIgnoreCase);
}
