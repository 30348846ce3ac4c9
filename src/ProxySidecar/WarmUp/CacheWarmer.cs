using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using ProxySidecar.Caching.Rules;
using ProxySidecar.Tls;

namespace ProxySidecar.WarmUp;

/// <summary>What a warm-up fetches: URLs, a sitemap whose URLs are added, at most this many, so many at once, with these request headers.</summary>
internal sealed record WarmUpPlan(IReadOnlyList<Uri> Urls, Uri? Sitemap, int Concurrency, int MaxUrls, IReadOnlyList<KeyValuePair<string, string>> Headers, string Trigger);

[JsonConverter(typeof(JsonStringEnumConverter<WarmUpOutcome>))]
internal enum WarmUpOutcome
{
    /// <summary>Not reached before the warm-up ended (its timeout, or shutdown).</summary>
    [JsonStringEnumMemberName("not-fetched")]
    NotFetched,

    /// <summary>The response was stored.</summary>
    [JsonStringEnumMemberName("stored")]
    Stored,

    /// <summary>A stored response answered: it was already in the cache.</summary>
    [JsonStringEnumMemberName("already-cached")]
    AlreadyCached,

    /// <summary>The app answered, but the response may not be stored (Cache-Status says why).</summary>
    [JsonStringEnumMemberName("not-cacheable")]
    NotCacheable,

    /// <summary>No answer, an answer of 500 or more or 429, or a connection that failed.</summary>
    [JsonStringEnumMemberName("failed")]
    Failed,
}

/// <summary>
/// Fetches URLs through the cache so that their responses are stored before clients ask: real GET requests sent
/// to the sidecar's own public HTTPS listener over loopback, at a bounded concurrency, one warm-up at a time.
/// <para>
/// Why a loopback HTTPS client rather than invoking the request pipeline in process: a warm-up request then takes
/// exactly the path a client's does (Kestrel and its limits, the access log, the cache with its Cache-Status, YARP
/// and its transforms, the forwarder's errors), so what it stores is what a client would have made the cache store,
/// and nothing of the pipeline (connection features, response body and completion, OnStarting callbacks) is
/// imitated. The cost is a TLS handshake per connection, kept alive across the warm-up. Only the certificate the
/// sidecar serves at that moment is accepted. With client certificates required (Sidecar:Tls:ClientCertificate
/// Mode Require) the handshake refuses these requests: each URL counts as failed.
/// </para>
/// </summary>
internal sealed partial class CacheWarmer : IDisposable
{
    /// <summary>Sitemaps followed from one sitemap index.</summary>
    internal const int MaxChildSitemaps = 50;

    /// <summary>Characters of one sitemap read at most.</summary>
    internal const long MaxSitemapCharacters = 50 * 1024 * 1024;

    private static readonly string UserAgent = "ProxySidecar-WarmUp/" +
        (typeof(CacheWarmer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0");

    private readonly IServer _server;
    private readonly CertificateStore _certificates;
    private readonly CachePolicyProvider _policies;
    private readonly TimeProvider _time;
    private readonly ILogger<CacheWarmer> _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lazy<HttpClient> _client;
    private WarmUpProgress? _current;
    private WarmUpSummary? _last;

    public CacheWarmer(IServer server, CertificateStore certificates, CachePolicyProvider policies, TimeProvider time, ILogger<CacheWarmer> logger)
    {
        _server = server;
        _certificates = certificates;
        _policies = policies;
        _time = time;
        _logger = logger;
        _client = new Lazy<HttpClient>(CreateClient);
    }

    /// <summary>The warm-up under way, if any.</summary>
    public WarmUpProgress? Current => Volatile.Read(ref _current);

    /// <summary>The last warm-up that ended.</summary>
    public WarmUpSummary? Last => Volatile.Read(ref _last);

    /// <summary>Runs <paramref name="plan"/> once no other warm-up runs; false (and nothing done) when <paramref name="wait"/> is false and one does.</summary>
    public async Task<WarmUpSummary?> RunAsync(WarmUpPlan plan, bool wait, CancellationToken cancellationToken)
    {
        if (!await _gate.WaitAsync(wait ? Timeout.InfiniteTimeSpan : TimeSpan.Zero, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        try
        {
            var summary = await RunExclusiveAsync(plan, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _last, summary);
            return summary;
        }
        finally
        {
            Volatile.Write(ref _current, null);
            _gate.Release();
        }
    }

    private async Task<WarmUpSummary> RunExclusiveAsync(WarmUpPlan plan, CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        var progress = new WarmUpProgress(plan.Trigger, started);
        Volatile.Write(ref _current, progress);

        var urls = new List<Uri>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var leftOut = 0;
        void Add(Uri url)
        {
            if (!seen.Add(url.AbsoluteUri))
            {
                return;
            }

            if (urls.Count < plan.MaxUrls)
            {
                urls.Add(url);
            }
            else
            {
                leftOut++;
            }
        }

        foreach (var url in plan.Urls)
        {
            Add(url);
        }

        string? sitemapError = null;
        if (plan.Sitemap is { } sitemap)
        {
            try
            {
                foreach (var url in await ReadSitemapAsync(sitemap, plan.MaxUrls - urls.Count, cancellationToken).ConfigureAwait(false))
                {
                    Add(url);
                }
            }
            catch (Exception error) when (error is HttpRequestException or IOException or System.Xml.XmlException or SitemapException or AuthenticationException
                || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                sitemapError = error.Message;
                Log.SitemapFailed(_logger, sitemap.AbsoluteUri, error.Message);
            }
            catch (OperationCanceledException)
            {
                sitemapError = "the warm-up ended before the sitemap was read";
            }
        }

        var results = urls.Select(u => new WarmUpUrlResult(u.AbsoluteUri, WarmUpOutcome.NotFetched)).ToArray();
        progress.Start(results.Length);
        Log.Started(_logger, plan.Trigger, results.Length, plan.Concurrency, leftOut);
        var step = Math.Max(1, results.Length / 10);
        var timedOut = false;
        try
        {
            var options = new ParallelOptions { MaxDegreeOfParallelism = plan.Concurrency, CancellationToken = cancellationToken };
            await Parallel.ForEachAsync(Enumerable.Range(0, results.Length), options, async (i, token) =>
            {
                results[i] = await FetchAsync(urls[i], plan.Headers, token).ConfigureAwait(false);
                var done = progress.Done(results[i].Outcome);
                if (done % step == 0 || done == results.Length)
                {
                    progress.Report(done, c => Log.Progress(_logger, done, results.Length, c.Stored, c.AlreadyCached, c.NotCacheable, c.Failed));
                }
            }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            timedOut = true;
        }

        var finished = _time.GetUtcNow();
        var summary = WarmUpSummary.From(plan.Trigger, started, finished, results, leftOut, timedOut, sitemapError);
        Log.Finished(_logger, plan.Trigger, summary.Stored, summary.AlreadyCached, summary.NotCacheable, summary.Failed, summary.NotFetched, (long)(finished - started).TotalMilliseconds);
        return summary;
    }

    /// <summary>One GET through the public listener, its body read to the end (the cache stores what it has passed on).</summary>
    private async Task<WarmUpUrlResult> FetchAsync(Uri url, IReadOnlyList<KeyValuePair<string, string>> headers, CancellationToken cancellationToken)
    {
        try
        {
            using var request = Request(url, headers);
            using var response = await _client.Value.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false))
            {
                await body.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
            }

            var cacheStatus = OwnCacheStatus(response, _policies.Current.CacheStatusName);
            var status = (int)response.StatusCode;
            return new WarmUpUrlResult(url.AbsoluteUri, Classify(status, cacheStatus), status, cacheStatus, null);
        }
        catch (Exception error) when (error is HttpRequestException or IOException or AuthenticationException
            || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            Log.UrlFailed(_logger, url.AbsoluteUri, error.Message);
            return new WarmUpUrlResult(url.AbsoluteUri, WarmUpOutcome.Failed, null, null, error.Message);
        }
    }

    /// <summary>What the sidecar's Cache-Status member says about a warm-up response.</summary>
    internal static WarmUpOutcome Classify(int status, string? cacheStatus)
    {
        var parameters = (cacheStatus ?? string.Empty).Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var forwardedStatus = parameters.Select(p => p.StartsWith("fwd-status=", StringComparison.Ordinal) && int.TryParse(p.AsSpan(11), out var s) ? s : 0).Max(s => (int?)s) ?? 0;
        // 429: a rate limit (Sidecar:Limits) refused the warm-up, which counts as one client (127.0.0.1).
        if (status >= 500 || forwardedStatus >= 500 || status == StatusCodes.Status429TooManyRequests)
        {
            return WarmUpOutcome.Failed;
        }

        if (parameters.Contains("hit", StringComparer.Ordinal))
        {
            return WarmUpOutcome.AlreadyCached;
        }

        return parameters.Contains("stored", StringComparer.Ordinal) ? WarmUpOutcome.Stored : WarmUpOutcome.NotCacheable;
    }

    /// <summary>This cache's member of Cache-Status (RFC 9211: a list, one member per cache on the way), or null.</summary>
    internal static string? OwnCacheStatus(HttpResponseMessage response, string name)
    {
        if (!response.Headers.TryGetValues("Cache-Status", out var values))
        {
            return null;
        }

        foreach (var member in values.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)))
        {
            if (member == name || member.StartsWith(name + ";", StringComparison.Ordinal))
            {
                return member;
            }
        }

        return null;
    }

    /// <summary>The &lt;loc&gt; URLs of a sitemap (following one level of sitemap index), at most <paramref name="max"/>.</summary>
    private async Task<List<Uri>> ReadSitemapAsync(Uri sitemap, int max, CancellationToken cancellationToken)
    {
        var urls = new List<Uri>();
        var (kind, locations) = await ReadSitemapFileAsync(sitemap, cancellationToken).ConfigureAwait(false);
        if (kind == SitemapKind.Index)
        {
            foreach (var child in locations.Take(MaxChildSitemaps))
            {
                if (urls.Count >= max)
                {
                    break;
                }

                if (WarmUpUrls.Parse(child) is not { } childUrl)
                {
                    continue;
                }

                var (childKind, childLocations) = await ReadSitemapFileAsync(childUrl, cancellationToken).ConfigureAwait(false);
                if (childKind == SitemapKind.UrlSet)
                {
                    urls.AddRange(childLocations.Select(WarmUpUrls.Parse).OfType<Uri>().Take(max - urls.Count));
                }
            }
        }
        else
        {
            urls.AddRange(locations.Select(WarmUpUrls.Parse).OfType<Uri>().Take(max));
        }

        return urls;
    }

    private async Task<(SitemapKind Kind, List<string> Locations)> ReadSitemapFileAsync(Uri sitemap, CancellationToken cancellationToken)
    {
        using var request = Request(sitemap, []);
        using var response = await _client.Value.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new SitemapException($"the sitemap {sitemap.AbsoluteUri} answered {(int)response.StatusCode}, not 200");
        }

        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var gzip = response.Content.Headers.ContentEncoding.Contains("gzip", StringComparer.OrdinalIgnoreCase)
            || sitemap.AbsolutePath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        await using var text = gzip ? new System.IO.Compression.GZipStream(body, System.IO.Compression.CompressionMode.Decompress) : body;
        return await Sitemap.ReadAsync(text, cancellationToken).ConfigureAwait(false);
    }

    private static HttpRequestMessage Request(Uri url, IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url) { Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.UserAgent.ParseAdd(UserAgent);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("*/*"));
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    /// <summary>
    /// HTTP/1.1, one request per connection at a time, so the number of connections is the concurrency. Every
    /// connection goes to the public listener on loopback, whatever host the URL names; TLS names that host (SNI).
    /// </summary>
    private HttpClient CreateClient()
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = WarmUpOptionsValidator.MaxConcurrency,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            ConnectCallback = ConnectAsync,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, presented, _, _) => IsOwnCertificate(presented) },
        };
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var endpoint = PublicEndpoint();
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The public HTTPS listener's address, with a wildcard address replaced by loopback.</summary>
    internal IPEndPoint PublicEndpoint()
    {
        var addresses = _server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var https = addresses.FirstOrDefault(a => a.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            ?? throw new HttpRequestException("The public HTTPS listener is not listening yet.");
        var binding = BindingAddress.Parse(https);
        var host = binding.Host.Trim('[', ']');
        var address = host switch
        {
            "0.0.0.0" or "*" or "+" => IPAddress.Loopback,
            "::" => IPAddress.IPv6Loopback,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var parsed) ? parsed : IPAddress.Loopback,
        };
        return new IPEndPoint(address, binding.Port);
    }

    private bool IsOwnCertificate(System.Security.Cryptography.X509Certificates.X509Certificate? presented)
    {
        var current = _certificates.Current;
        return presented is not null && current is not null
            && CryptographicOperations.FixedTimeEquals(presented.GetRawCertData(), current.Leaf.RawData);
    }

    public void Dispose()
    {
        if (_client.IsValueCreated)
        {
            _client.Value.Dispose();
        }

        _gate.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(901, LogLevel.Information, "Cache warm-up ({Trigger}) started: {Total} URLs, {Concurrency} at once ({LeftOut} left out beyond MaxUrls).")]
        public static partial void Started(ILogger logger, string trigger, int total, int concurrency, int leftOut);

        [LoggerMessage(902, LogLevel.Information, "Cache warm-up: {Done} of {Total} URLs fetched ({Stored} stored, {AlreadyCached} already cached, {NotCacheable} not cacheable, {Failed} failed).")]
        public static partial void Progress(ILogger logger, int done, int total, int stored, int alreadyCached, int notCacheable, int failed);

        [LoggerMessage(903, LogLevel.Information, "Cache warm-up ({Trigger}) finished: {Stored} stored, {AlreadyCached} already cached, {NotCacheable} not cacheable, {Failed} failed, {NotFetched} not fetched, in {DurationMs} ms.")]
        public static partial void Finished(ILogger logger, string trigger, int stored, int alreadyCached, int notCacheable, int failed, int notFetched, long durationMs);

        [LoggerMessage(904, LogLevel.Warning, "Cache warm-up could not fetch {Url}: {Reason}")]
        public static partial void UrlFailed(ILogger logger, string url, string reason);

        [LoggerMessage(905, LogLevel.Warning, "Cache warm-up could not read the sitemap {Url}; warming the listed URLs only: {Reason}")]
        public static partial void SitemapFailed(ILogger logger, string url, string reason);
    }
}

/// <summary>A warm-up under way: what /status and readiness show.</summary>
internal sealed class WarmUpProgress(string trigger, DateTimeOffset startedAt)
{
    private readonly int[] _counts = new int[Enum.GetValues<WarmUpOutcome>().Length];
    private readonly Lock _reporting = new();
    private int _total = -1;
    private int _done;
    private int _reported;

    public string Trigger { get; } = trigger;

    public DateTimeOffset StartedAt { get; } = startedAt;

    /// <summary>URLs to fetch; −1 while the sitemap is read.</summary>
    public int Total => Volatile.Read(ref _total);

    public int Fetched => Volatile.Read(ref _done);

    public void Start(int total) => Volatile.Write(ref _total, total);

    public int Done(WarmUpOutcome outcome)
    {
        Interlocked.Increment(ref _counts[(int)outcome]);
        return Interlocked.Increment(ref _done);
    }

    /// <summary>
    /// Reports progress at <paramref name="done"/> URLs unless a later count was reported already: workers finish in
    /// any order, and the progress lines must not go backwards (the last one is the final count).
    /// </summary>
    public void Report(int done, Action<(int Stored, int AlreadyCached, int NotCacheable, int Failed)> report)
    {
        lock (_reporting)
        {
            if (done <= _reported)
            {
                return;
            }

            _reported = done;
            report(Counts());
        }
    }

    private (int Stored, int AlreadyCached, int NotCacheable, int Failed) Counts() =>
        (Volatile.Read(ref _counts[(int)WarmUpOutcome.Stored]), Volatile.Read(ref _counts[(int)WarmUpOutcome.AlreadyCached]),
         Volatile.Read(ref _counts[(int)WarmUpOutcome.NotCacheable]), Volatile.Read(ref _counts[(int)WarmUpOutcome.Failed]));
}

internal sealed record WarmUpUrlResult(string Url, WarmUpOutcome Outcome, int? Status = null, string? CacheStatus = null, string? Error = null);

/// <summary>The result of a warm-up: counts by outcome, and each URL's.</summary>
internal sealed record WarmUpSummary(
    string Trigger,
    DateTimeOffset StartedAt,
    DateTimeOffset FinishedAt,
    long DurationMs,
    int Total,
    int Stored,
    int AlreadyCached,
    int NotCacheable,
    int Failed,
    int NotFetched,
    int LeftOut,
    bool TimedOut,
    string? SitemapError,
    WarmUpUrlResult[] Urls)
{
    public static WarmUpSummary From(string trigger, DateTimeOffset started, DateTimeOffset finished, WarmUpUrlResult[] results, int leftOut, bool timedOut, string? sitemapError)
    {
        int Count(WarmUpOutcome outcome) => results.Count(r => r.Outcome == outcome);
        return new WarmUpSummary(trigger, started, finished, (long)(finished - started).TotalMilliseconds, results.Length,
            Count(WarmUpOutcome.Stored), Count(WarmUpOutcome.AlreadyCached), Count(WarmUpOutcome.NotCacheable), Count(WarmUpOutcome.Failed), Count(WarmUpOutcome.NotFetched),
            leftOut, timedOut, sitemapError, results);
    }
}

internal sealed class SitemapException(string message) : Exception(message);
