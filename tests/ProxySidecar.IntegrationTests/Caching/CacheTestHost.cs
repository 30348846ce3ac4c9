using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>A test upstream and a sidecar in front of it with the cache on, over real TLS; time is a FakeTimeProvider.</summary>
public sealed class CacheTestHost : IAsyncDisposable
{
    private readonly TempDirectory _temp;
    private readonly TestCertificateAuthority _ca;

    private CacheTestHost(TempDirectory temp, TestCertificateAuthority ca, TestUpstream upstream, SidecarHost sidecar, FakeTimeProvider time)
    {
        _temp = temp;
        _ca = ca;
        Upstream = upstream;
        Sidecar = sidecar;
        Time = time;
        Client = sidecar.CreateClient();
    }

    public TestUpstream Upstream { get; }

    public SidecarHost Sidecar { get; }

    public FakeTimeProvider Time { get; }

    public HttpClient Client { get; }

    public static async Task<CacheTestHost> StartAsync(IDictionary<string, string?>? settings = null, Action<IServiceCollection>? configureServices = null, TestUpstream? upstream = null)
    {
        var temp = new TempDirectory();
        var ca = new TestCertificateAuthority();
        var (certificatePath, keyPath) = ca.Issue().WriteTo(temp.Path);
        upstream ??= await TestUpstream.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var all = new Dictionary<string, string?>
        {
            ["Sidecar:Upstream:Address"] = upstream.Address.ToString(),
            ["Sidecar:Tls:CertificatePath"] = certificatePath,
            ["Sidecar:Tls:KeyPath"] = keyPath,
            ["Sidecar:Upstream:ResponseTimeout"] = "00:00:05",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var sidecar = await SidecarHost.StartAsync(all, ca.Certificate, configureServices: services =>
        {
            services.RemoveAll<ProxySidecar.Caching.CacheClock>();
            services.AddSingleton(new ProxySidecar.Caching.CacheClock(time));
            configureServices?.Invoke(services);
        });
        return new CacheTestHost(temp, ca, upstream, sidecar, time);
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
        await Sidecar.DisposeAsync();
        await Upstream.DisposeAsync();
        _ca.Dispose();
        _temp.Dispose();
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
