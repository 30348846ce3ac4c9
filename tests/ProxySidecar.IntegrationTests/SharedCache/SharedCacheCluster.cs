using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.SharedCache;

/// <summary>One app, one test CA and certificate, optionally one redis-server: what several sidecar replicas share.</summary>
public sealed class SharedCacheCluster : IAsyncDisposable
{
    private readonly TempDirectory _temp;
    private readonly TestCertificateAuthority _ca;
    private readonly string _certificatePath;
    private readonly string _keyPath;
    private readonly List<SidecarHost> _sidecars = [];

    private SharedCacheCluster(TempDirectory temp, TestCertificateAuthority ca, string certificatePath, string keyPath, TestUpstream upstream, RedisServer? redis)
    {
        _temp = temp;
        _ca = ca;
        _certificatePath = certificatePath;
        _keyPath = keyPath;
        Upstream = upstream;
        Redis = redis;
    }

    public TestUpstream Upstream { get; }

    public RedisServer? Redis { get; }

    public TempDirectory Temp => _temp;

    public static async Task<SharedCacheCluster> StartAsync(bool withRedis = true)
    {
        var temp = new TempDirectory();
        var ca = new TestCertificateAuthority();
        var (certificatePath, keyPath) = ca.Issue().WriteTo(temp.Path);
        var upstream = await TestUpstream.StartAsync();
        var redis = withRedis ? await RedisServer.StartAsync() : null;
        return new SharedCacheCluster(temp, ca, certificatePath, keyPath, upstream, redis);
    }

    /// <summary>Settings of a replica using this cluster's Redis (or <paramref name="redisConfiguration"/>).</summary>
    public Dictionary<string, string?> Settings(bool localCache = false, string? redisConfiguration = null, string store = "Redis")
    {
        var settings = new Dictionary<string, string?>
        {
            ["Sidecar:Upstream:Address"] = Upstream.Address.ToString(),
            ["Sidecar:Tls:CertificatePath"] = _certificatePath,
            ["Sidecar:Tls:KeyPath"] = _keyPath,
            ["Sidecar:Cache:Store"] = store,
            ["Sidecar:Cache:Redis:LocalCache:Enabled"] = localCache ? "true" : "false",
        };
        if (store == "Redis")
        {
            settings["Sidecar:Cache:Redis:Configuration"] = redisConfiguration ?? Redis!.Configuration;
            settings["Sidecar:Cache:Redis:InstanceName"] = "test:";
        }

        return settings;
    }

    public async Task<SidecarHost> StartSidecarAsync(IDictionary<string, string?> settings)
    {
        var sidecar = await SidecarHost.StartAsync(settings, _ca.Certificate);
        _sidecars.Add(sidecar);
        return sidecar;
    }

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

        _ca.Dispose();
        _temp.Dispose();
    }
}
