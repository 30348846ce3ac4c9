using System.Collections.Concurrent;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// Runs stale-while-revalidate refreshes in the background, one at a time per stored variant, each bounded
/// by BackgroundRefreshTimeout and stopped when the host stops. A version of an entry is refreshed once:
/// requests that still read it while the refreshed copy is on its way to the store do not start another.
/// </summary>
internal sealed class BackgroundRefresher(IServiceScopeFactory scopes, IHostApplicationLifetime lifetime, CacheClock clock, ILogger<BackgroundRefresher> logger)
{
    /// <summary>How long a finished refresh keeps later requests that still read the version it replaced from refreshing it again.</summary>
    internal static readonly TimeSpan RefreshedMemory = TimeSpan.FromSeconds(30);

    private const int MaxRemembered = 10_000;

    /// <summary>Refreshes run at most this many at once.</summary>
    internal const int MaxRunning = 32;

    private int _runningCount;

    private readonly ConcurrentDictionary<string, byte> _running = new(StringComparer.Ordinal);

    // Per stored variant: the response time of the stale version the last successful refresh replaced, and when it finished.
    private readonly ConcurrentDictionary<string, (long StaleResponseTimeMs, long DoneAtMs)> _refreshed = new(StringComparer.Ordinal);

    /// <summary>Refreshes under way.</summary>
    public int Running => _running.Count;

    /// <summary>Refreshes started since start-up.</summary>
    public long Started => Interlocked.Read(ref _started);

    private long _started;

    /// <summary>
    /// Starts <paramref name="refresh"/> of <paramref name="stale"/> in the background, on a copy of
    /// <paramref name="context"/>'s request (its conditions, cache directives and framing left out). The delegate runs
    /// the cache's forward path and returns true when it wrote a refreshed entry.
    /// </summary>
    public void Schedule(HttpContext context, CachePolicy policy, CacheEntry stale, Func<HttpContext, Task<bool>> refresh)
    {
        var key = stale.Primary + "#" + stale.VariantHash;
        // At most MaxRunning at once: a burst of stale URLs must not become a burst of requests to the app (or of
        // tasks and copies here). A refresh not started now is started by a later request for the entry.
        if (lifetime.ApplicationStopping.IsCancellationRequested || AlreadyRefreshed(key, stale)
            || Volatile.Read(ref _runningCount) >= MaxRunning || !_running.TryAdd(key, 0))
        {
            return;
        }

        Interlocked.Increment(ref _runningCount);

        // A refresh that finished between the check above and TryAdd recorded its result before leaving _running.
        if (AlreadyRefreshed(key, stale))
        {
            _running.TryRemove(key, out _);
            Interlocked.Decrement(ref _runningCount);
            return;
        }

        Interlocked.Increment(ref _started);
        var request = context.Request;
        var copy = new RequestCopy(
            request.Scheme,
            request.Host,
            request.PathBase,
            request.Path,
            request.QueryString,
            context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget,
            [.. request.Headers.Where(h => !IsExcluded(h.Key))],
            context.Connection.RemoteIpAddress);
        _ = Task.Run(async () =>
        {
            try
            {
                if (await RunAsync(copy, policy, refresh).ConfigureAwait(false))
                {
                    Remember(key, stale);
                }
            }
            catch (Exception error)
            {
                CacheLog.RefreshFailed(logger, error, stale.UrlHash);
            }
            finally
            {
                _running.TryRemove(key, out _);
                Interlocked.Decrement(ref _runningCount);
            }
        });
    }

    /// <summary>
    /// True when a refresh already replaced this version of the entry (or a later one) a moment ago: the request
    /// read it before the refreshed copy reached the store (the write to Redis runs in the background), so
    /// refreshing again would only ask the app for the same thing once more.
    /// </summary>
    private bool AlreadyRefreshed(string key, CacheEntry stale) =>
        _refreshed.TryGetValue(key, out var done)
        && stale.ResponseTimeMs <= done.StaleResponseTimeMs
        && clock.Time.GetUtcNow().ToUnixTimeMilliseconds() - done.DoneAtMs < RefreshedMemory.TotalMilliseconds;

    private void Remember(string key, CacheEntry stale)
    {
        // Bounded: refreshes are rare next to requests, so counting (which takes every lock) here is cheap.
        if (_refreshed.Count >= MaxRemembered)
        {
            _refreshed.Clear();
        }

        _refreshed[key] = (stale.ResponseTimeMs, clock.Time.GetUtcNow().ToUnixTimeMilliseconds());
    }

    private async Task<bool> RunAsync(RequestCopy copy, CachePolicy policy, Func<HttpContext, Task<bool>> refresh)
    {
        await using var scope = scopes.CreateAsyncScope();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
        timeout.CancelAfter(policy.BackgroundRefreshTimeout);
        var sub = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
        var request = sub.Request;
        request.Method = HttpMethods.Get;
        request.Protocol = "HTTP/1.1";
        request.Scheme = copy.Scheme;
        request.Host = copy.Host;
        request.PathBase = copy.PathBase;
        request.Path = copy.Path;
        request.QueryString = copy.Query;
        if (copy.RawTarget is not null && sub.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>() is { } feature)
        {
            // The app is asked for the target exactly as the client sent it, as on the client's own forward.
            feature.RawTarget = copy.RawTarget;
        }
        foreach (var (name, value) in copy.Headers)
        {
            request.Headers[name] = value;
        }

        sub.Connection.RemoteIpAddress = copy.Remote;
        sub.RequestAborted = timeout.Token;
        return await refresh(sub).ConfigureAwait(false);
    }

    // Conditions and cache directives are the cache's own for a refresh; framing headers do not apply to a GET without body.
    private static bool IsExcluded(string name) =>
        Validators.IsConditionalHeader(name)
        || name.Equals(HeaderNames.Range, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.CacheControl, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Pragma, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.ContentLength, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase);

    private sealed record RequestCopy(
        string Scheme,
        HostString Host,
        PathString PathBase,
        PathString Path,
        QueryString Query,
        string? RawTarget,
        KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>[] Headers,
        System.Net.IPAddress? Remote);
}
