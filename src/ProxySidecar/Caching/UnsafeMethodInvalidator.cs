using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// RFC 9111 §4.4: a non-error answer to an unsafe request invalidates the target URL, and its Location and
/// Content-Location when they are on the same origin: every variant, in this replica and in a shared store.
/// </summary>
internal sealed class UnsafeMethodInvalidator(HttpCacheStore store)
{
    /// <summary>
    /// Every method not known to be safe invalidates (RFC 9111 §4.4): POST, PUT, PATCH, DELETE, and any extension
    /// method (PURGE or M-SEARCH sent to the public port are unsafe methods like any other).
    /// </summary>
    public static bool IsInvalidating(string method) => !IsSafe(method);

    /// <summary>Safe methods (RFC 9110 §9.2.1, and WebDAV's PROPFIND, REPORT and SEARCH, and QUERY).</summary>
    public static bool IsSafe(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method)
        || method.Equals("PROPFIND", StringComparison.OrdinalIgnoreCase) || method.Equals("REPORT", StringComparison.OrdinalIgnoreCase)
        || method.Equals("SEARCH", StringComparison.OrdinalIgnoreCase) || method.Equals("QUERY", StringComparison.OrdinalIgnoreCase);

    /// <summary>After the app answered <paramref name="context"/>'s unsafe request.</summary>
    public async Task InvalidateAsync(HttpContext context, CachePolicy policy)
    {
        var status = context.Response.StatusCode;
        if (status is < 200 or >= 400)
        {
            return;
        }

        var request = context.Request;
        var targets = new HashSet<string>(StringComparer.Ordinal)
        {
            CacheKey.Primary(request, policy.Match(HttpMethods.Get, request.Path.Value ?? "/")),
        };
        var self = new Uri(request.Scheme + "://" + request.Host.Value + request.PathBase.Value + request.Path.Value, UriKind.Absolute);
        foreach (var name in (ReadOnlySpan<string>)[HeaderNames.Location, HeaderNames.ContentLocation])
        {
            var value = context.Response.Headers[name].ToString();
            if (value.Length > 0 && Uri.TryCreate(self, value, out var target)
                && Uri.Compare(self, target, UriComponents.SchemeAndServer, UriFormat.SafeUnescaped, StringComparison.OrdinalIgnoreCase) == 0)
            {
                targets.Add(CacheKey.PrimaryFor(target, policy));
            }
        }

        await InvalidateAsync(targets).ConfigureAwait(false);
    }

    /// <summary>Every variant of one URL (a HEAD that showed the stored GET is out of date).</summary>
    public Task InvalidateUrlAsync(string primary) => InvalidateAsync(new HashSet<string>(StringComparer.Ordinal) { primary });

    private async Task InvalidateAsync(HashSet<string> targets)
    {
        // Side by side, so a slow store costs the response at most one store timeout, not one per target; a store
        // that cannot be reached (Redis down, its breaker open) is skipped, counted and logged by the store layer.
        if (targets.Count == 1)
        {
            await store.InvalidateAsync(CacheTags.Url(CacheKey.Hash(targets.First())), CancellationToken.None).ConfigureAwait(false);
            return;
        }

        await Task.WhenAll(targets.Select(t => store.InvalidateAsync(CacheTags.Url(CacheKey.Hash(t)), CancellationToken.None).AsTask())).ConfigureAwait(false);
    }
}
