using System.Globalization;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Compression;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Caching;

/// <summary>Writes what the cache answers itself: a stored entry (or a 304 for the client's own conditions), and the only-if-cached 504.</summary>
internal static class ResponseWriter
{
    private static readonly string[] SmallAges = [.. Enumerable.Range(0, 512).Select(i => i.ToString(CultureInfo.InvariantCulture))];

    /// <summary>
    /// Serves <paramref name="entry"/>: its status and headers, Age, this cache's Cache-Status and the body; a 304 when the
    /// client's conditions match. With <paramref name="encodings"/> and compression on for the request, the body goes
    /// in the coding the client accepts, from the representation stored beside the entry (made on the first hit that
    /// asks for it): <c>Content-Encoding</c>, <c>Vary: Accept-Encoding</c>, the length of the compressed bytes, a strong
    /// ETag suffixed with the coding, and none of the fields that describe the app's bytes (Accept-Ranges, digests).
    /// Ranges and HEAD are answered from the app's bytes.
    /// </summary>
    public static async Task ServeAsync(HttpContext context, CacheEntry entry, EntryView view, string cacheStatus, EncodedRepresentations? encodings = null, CachePolicy? policy = null)
    {
        var request = context.Request;
        var response = context.Response;
        var compression = encodings is null ? null : context.Features.Get<CompressionFeature>();
        compression?.MarkAnsweredByCache();
        var plan = compression is null || HttpMethods.IsHead(request.Method) ? EncodingPlan.None : compression.PlanFor(entry);
        var notModified = entry.Status == StatusCodes.Status200OK && Validators.ClientConditionMatches(request, entry);
        if (!notModified && ByteRange.TryGet(request, entry, out var range))
        {
            await ServeRangeAsync(context, entry, view, cacheStatus, range, plan.Vary).ConfigureAwait(false);
            return;
        }

        var body = entry.Body;
        var coding = ContentCoding.Identity;
        if (!notModified && plan.Coding != ContentCoding.Identity && entry.Status is not (204 or 304)
            && await encodings!.GetAsync(entry, plan.Coding, compression!.Policy, policy!, context.RequestAborted).ConfigureAwait(false) is { } encoded)
        {
            body = encoded;
            coding = plan.Coding;
        }

        response.StatusCode = notModified ? StatusCodes.Status304NotModified : entry.Status;
        var headers = response.Headers;
        foreach (var header in entry.Headers)
        {
            if ((!notModified || IsNotModifiedHeader(header.Key)) && !(coding != ContentCoding.Identity && CompressionFeature.IsIdentityOnlyHeader(header.Key)))
            {
                headers[header.Key] = header.Value;
            }
        }

        if (plan.Vary)
        {
            CompressionFeature.AddVary(headers);
        }

        if (entry.ETag is { } etag && (coding != ContentCoding.Identity || (notModified && plan.Vary)))
        {
            // A 304 confirms the representation the client holds: the one its If-None-Match named, else (If-Modified-Since)
            // the one it would get.
            var tag = notModified
                ? compression!.NotModifiedTag(etag, request.Headers.ContainsKey(HeaderNames.IfNoneMatch) ? ContentCoding.Identity : plan.Coding)
                : EncodedValidators.For(etag, coding);
            if (tag is null)
            {
                headers.Remove(HeaderNames.ETag);
            }
            else
            {
                headers.ETag = tag;
            }
        }

        headers.Age = AgeText(view.AgeMs);
        headers.Append(CacheStatusText.Header, cacheStatus);
        if (notModified || entry.Status is 204 or 304)
        {
            headers.ContentLength = null;
            return;
        }

        if (coding != ContentCoding.Identity)
        {
            headers.ContentEncoding = coding.Name();
            encodings!.Served(coding);
        }

        headers.ContentLength = body.Length;
        if (!HttpMethods.IsHead(request.Method) && body.Length > 0)
        {
            await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    /// <summary>RFC 9110 §14: a 206 with the range of the stored body, or a 416 when the range lies beyond it.</summary>
    private static async Task ServeRangeAsync(HttpContext context, CacheEntry entry, EntryView view, string cacheStatus, ByteRange range, bool varyOnEncoding)
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

        if (varyOnEncoding)
        {
            // The range is of the app's bytes; without Range the client could have been sent another coding.
            CompressionFeature.AddVary(headers);
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
