using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>A test upstream and a sidecar in front of it with the cache on, over real TLS; time is a FakeTimeProvider.</summary>
public sealed class CacheTestHost : IAsyncDisposable
{
    private readonly SidecarSetup _setup;

    private CacheTestHost(SidecarSetup setup, FakeTimeProvider time)
    {
        _setup = setup;
        Time = time;
        Client = setup.Sidecar.CreateClient();
    }

    public TestUpstream Upstream => _setup.Upstream;

    public SidecarHost Sidecar => _setup.Sidecar;

    public FakeTimeProvider Time { get; }

    public HttpClient Client { get; }

    public static async Task<CacheTestHost> StartAsync(IDictionary<string, string?>? settings = null, Action<IServiceCollection>? configureServices = null, TestUpstream? upstream = null)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var all = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Sidecar:Upstream:ResponseTimeout"] = "00:00:05",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var setup = await SidecarSetup.StartAsync(all, upstream: upstream, configureServices: services =>
        {
            services.RemoveAll<ProxySidecar.Caching.CacheClock>();
            services.AddSingleton(new ProxySidecar.Caching.CacheClock(time));
            configureServices?.Invoke(services);
        });
        return new CacheTestHost(setup, time);
    }

    public async Task<HttpResponseMessage> GetAsync(string path, Action<HttpRequestMessage>? configure = null, HttpClient? client = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        configure?.Invoke(request);
        var response = await (client ?? Client).SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative));
        configure?.Invoke(request);
        var response = await Client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>
    /// A handler answering <paramref name="status"/> with <paramref name="headers"/>, a Date from the fake clock
    /// (unless given) and a body "v{n}" where n counts the app's calls for this handler.
    /// </summary>
    public Microsoft.AspNetCore.Http.RequestDelegate Respond(int status = 200, params (string Name, string Value)[] headers)
    {
        var calls = 0;
        return async context =>
        {
            var n = Interlocked.Increment(ref calls);
            context.Response.StatusCode = status;
            if (!headers.Any(h => h.Name.Equals("Date", StringComparison.OrdinalIgnoreCase)))
            {
                context.Response.Headers.Date = Time.GetUtcNow().ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            }

            foreach (var (name, value) in headers)
            {
                Microsoft.AspNetCore.Http.HeaderDictionaryExtensions.Append(context.Response.Headers, name, value);
            }

            if (!Microsoft.AspNetCore.Http.HttpMethods.IsHead(context.Request.Method) && status != 204 && status != 304)
            {
                await Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response, "v" + n);
            }
        };
    }

    /// <summary>An HTTP-date <paramref name="offset"/> from the fake clock's now.</summary>
    public string HttpDate(TimeSpan offset) => (Time.GetUtcNow() + offset).ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Requests received by the app for <paramref name="path"/>.</summary>
    public int Hits(string path) => Upstream.Received.Count(r => r.Path == path);

    /// <summary>
    /// Waits until the response for <paramref name="path"/> is stored: the cache writes an entry after the client's
    /// response has completed, so a test that purges right after a miss could otherwise run before the write.
    /// Polls with GETs until one is a hit (hits never reach the app, so the app's counts stay as they were).
    /// </summary>
    public async Task WaitUntilStoredAsync(string path, Action<HttpRequestMessage>? configure = null)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            using var response = await GetAsync(path, configure);
            if (response.CacheStatus().Contains("; hit", StringComparison.Ordinal))
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{path} was never served from the cache: {response.CacheStatus()}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds (background work), failing after a few seconds.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string because)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Condition never held: " + because);
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _setup.DisposeAsync();
    }
}

/// <summary>Small helpers for upstream handlers and response checks.</summary>
public static class CacheTestExtensions
{
    public static string CacheStatus(this HttpResponseMessage response) =>
        response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : string.Empty;

    public static string Body(this HttpResponseMessage response) => response.Content.ReadAsStringAsync().GetAwaiter().GetResult();

    public static string? Header(this HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(", ", values)
        : response.Content.Headers.TryGetValues(name, out var content) ? string.Join(", ", content) : null;
}
