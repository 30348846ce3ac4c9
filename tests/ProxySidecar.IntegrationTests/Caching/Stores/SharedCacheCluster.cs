using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Caching.Stores;

/// <summary>One app, one rig (test CA, certificate, base settings), optionally one redis-server: what several sidecar replicas share.</summary>
public sealed class SharedCacheCluster : IAsyncDisposable
{
    private readonly SidecarRig _rig;
    private readonly List<SidecarHost> _sidecars = [];

    private SharedCacheCluster(SidecarRig rig, TestUpstream upstream, RedisServer? redis)
    {
        _rig = rig;
        Upstream = upstream;
        Redis = redis;
    }

    public TestUpstream Upstream { get; }

    public RedisServer? Redis { get; }

    public TempDirectory Temp => _rig.Temp;

    public static async Task<SharedCacheCluster> StartAsync(bool withRedis = true)
    {
        var rig = SidecarRig.Create(Host);
        var upstream = await TestUpstream.StartAsync();
        var redis = withRedis ? await RedisServer.StartAsync() : null;
        return new SharedCacheCluster(rig, upstream, redis);
    }

    /// <summary>Settings of a replica using this cluster's Redis (or <paramref name="redisConfiguration"/>).</summary>
    public Dictionary<string, string?> Settings(bool localCache = false, string? redisConfiguration = null, string store = "Redis")
    {
        var settings = _rig.Settings(Upstream.Address, new Dictionary<string, string?>
        {
            ["Sidecar:Cache:Store"] = store,
            ["Sidecar:Cache:Redis:LocalCache:Enabled"] = localCache ? "true" : "false",
            ["Sidecar:Admin:PurgeToken"] = PurgeToken,
        });
        if (store == "Redis")
        {
            settings["Sidecar:Cache:Redis:Configuration"] = redisConfiguration ?? Redis!.Configuration;
            settings["Sidecar:Cache:Redis:InstanceName"] = "test:";
        }

        return settings;
    }

    public async Task<SidecarHost> StartSidecarAsync(IDictionary<string, string?> settings, Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? configureServices = null)
    {
        var sidecar = await SidecarHost.StartAsync(settings, _rig.TrustedCa, configureServices: configureServices);
        _sidecars.Add(sidecar);

        // Until its connection is up, a replica skips Redis (requests are not held): tests start from there.
        if (Redis is not null && settings.TryGetValue("Sidecar:Cache:Redis:Configuration", out var configuration) && configuration == Redis.Configuration)
        {
            await sidecar.WaitForStatusAsync(s => s["sharedCache"]?["connected"]?.GetValue<bool>() == true, because: "connected to Redis");
        }

        return sidecar;
    }

    /// <summary>The host name every test request uses, so replicas on different ports share cache keys.</summary>
    public const string Host = "www.example.test";

    public const string PurgeToken = "test-purge-token-0123456789abcdef";

    /// <summary>GET <paramref name="path"/> through <paramref name="client"/> with the shared Host header; the body is buffered.</summary>
    public static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        request.Headers.Host = Host;
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>POST /cache/purge?<paramref name="query"/> on the admin port.</summary>
    public static async Task<HttpResponseMessage> PurgeAsync(SidecarHost sidecar, string query, string? token = PurgeToken)
    {
        using var admin = sidecar.CreateAdminClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/cache/purge?" + query, UriKind.Relative));
        if (token is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        var response = await admin.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    public static string CacheStatus(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : string.Empty;

    public static bool IsHit(HttpResponseMessage response) => CacheStatus(response).StartsWith("ProxySidecar; hit", StringComparison.Ordinal);

    /// <summary>Waits until Redis holds at least <paramref name="count"/> cache entries (writes are in the background).</summary>
    public Task WaitForRedisEntriesAsync(int count = 1) => Redis!.WaitForKeysAsync("test:__MSOCV_psc1*", count);

    public async ValueTask DisposeAsync()
    {
        foreach (var sidecar in _sidecars)
        {
            await sidecar.DisposeAsync();
        }

        await Upstream.DisposeAsync();
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }

        _rig.Dispose();
    }
}
