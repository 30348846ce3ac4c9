using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;
using ProxySidecar.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>
/// The cache-safety rules through the real binary (and, in tests/run.sh, the Native AOT executable the image ships):
/// the example ConfigMap in front of a cookie-session app, and untrusted records in a shared Redis.
/// </summary>
[Trait("Category", SidecarProcess.Category)]
public sealed class CacheSafetyBinaryTests
{
    /// <summary>Every ConfigMap example under k8s/, as the file a pod mounts.</summary>
    public static TheoryData<string> ConfigMaps()
    {
        var data = new TheoryData<string>();
        foreach (var (source, _) in ExampleConfigurations.All().Where(e => e.Source.StartsWith("k8s", StringComparison.Ordinal)))
        {
            data.Add(source);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ConfigMaps))]
    public async Task Binary_ExampleConfigMap_InFrontOfACookieSessionApp_NeverSharesAPage(string configMap)
    {
        await using var upstream = await TestUpstream.StartAsync();
        var inside = 0;
        upstream.Fallback = async context =>
        {
            var path = context.Request.Path.Value ?? "/";
            if (path.EndsWith("/together", StringComparison.Ordinal))
            {
                // Answer once all twelve users are at the app (bounded): a coalescing cache would hold eleven back.
                Interlocked.Increment(ref inside);
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
                while (Volatile.Read(ref inside) < 12 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }
            }

            var user = context.Request.Headers.Cookie.ToString();
            if (path.Contains("/lm", StringComparison.Ordinal))
            {
                context.Response.Headers.LastModified = DateTimeOffset.UtcNow.AddDays(-30).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                context.Response.Headers.ETag = "\"" + Convert.ToHexString(Encoding.UTF8.GetBytes(user)) + "\"";
                if (path.Contains("/nc", StringComparison.Ordinal))
                {
                    context.Response.Headers.CacheControl = "no-cache";
                }
            }

            await context.Response.WriteAsync("page for " + user);
        };
        using var temp = new TempDirectory();
        var file = temp.Combine("sidecar.json");
        var map = k8s.KubernetesYaml.LoadAllFromString(File.ReadAllText(Repository.RepositoryRoot.Combine(configMap))).OfType<k8s.Models.V1ConfigMap>().First(m => m.Data?.ContainsKey("sidecar.json") == true);
        await File.WriteAllTextAsync(file, map.Data["sidecar.json"]);
        using var setup = ProcessSetup.Start(upstream.Address, new Dictionary<string, string?> { ["PROXYSIDECAR_CONFIG"] = file });
        await setup.WaitForReadinessAsync();
        using var client = setup.CreateClient();

        async Task<string> GetAsync(string target, string user)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"https://127.0.0.1:{setup.HttpsPort}{target}", new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }));
            request.Headers.Add("Cookie", "session=" + user);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Content.ReadAsStringAsync();
        }

        // Twelve users at the same moment.
        var pages = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => GetAsync("/me/together", "user" + i)));
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal("page for session=user" + i, pages[i]);
        }

        // Alice, then Bob, on pages with only a validator, only Last-Modified, or no-cache; and every form of /api.
        foreach (var target in new[] { "/me", "/lm/page", "/nc/page", "/assets/me", "/api/me", "/API/me", "/api;x/me", "//api/me", "/api%2Fme" })
        {
            Assert.Equal("page for session=alice", await GetAsync(target, "alice"));
            Assert.Equal("page for session=bob", await GetAsync(target, "bob"));
        }

        Assert.False(setup.Process.HasExited, setup.Process.Stderr);
    }

    /// <summary>A shared store is written by other processes: a record that is malformed or holds another key is a miss.</summary>
    [RedisFact]
    public async Task Binary_SharedRedis_MalformedOrMisplacedRecord_IsAMissNeverAnError()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        upstream.Fallback = async context =>
        {
            context.Response.Headers.CacheControl = "public, max-age=600";
            await context.Response.WriteAsync("page " + context.Request.Path);
        };
        using var setup = ProcessSetup.Start(upstream.Address, new Dictionary<string, string?>
        {
            ["Sidecar__Cache__Store"] = "Redis",
            ["Sidecar__Cache__Redis__Configuration"] = redis.Configuration,
            ["Sidecar__Cache__Redis__InstanceName"] = "untrusted:",
        });
        await setup.WaitForReadinessAsync();
        using var client = setup.CreateClient();
        using var admin = setup.CreateAdminClient();
        using var first = await client.GetAsync(new Uri("/stored", UriKind.Relative));
        Assert.Equal("page /stored", await first.Content.ReadAsStringAsync());
        await redis.WaitForKeysAsync("untrusted:*psc1:e:*");

        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var db = connection.GetDatabase();
        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var storedKey = server.Keys(pattern: "untrusted:*psc1:e:*").Single().ToString();
        var value = (byte[])(await db.StringGetAsync(storedKey))!;
        Assert.True(SharedEntryFormat.TryRead(value, out var expiresAt, out var tags, out var payload));

        // The record of /stored under the key of /elsewhere; under /broken a record whose first count says two billion.
        await db.StringSetAsync(storedKey.Replace("/stored", "/elsewhere", StringComparison.Ordinal), value, TimeSpan.FromMinutes(5));
        var broken = (byte[])payload.Clone();
        BitConverter.TryWriteBytes(broken.AsSpan(5), int.MaxValue);
        await db.StringSetAsync(storedKey.Replace("/stored", "/broken", StringComparison.Ordinal), SharedEntryFormat.Write(broken, tags, expiresAt), TimeSpan.FromMinutes(5));

        using var elsewhere = await client.GetAsync(new Uri("/elsewhere", UriKind.Relative));
        using var brokenResponse = await client.GetAsync(new Uri("/broken", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, elsewhere.StatusCode);
        Assert.Equal("page /elsewhere", await elsewhere.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, brokenResponse.StatusCode);
        Assert.Equal("page /broken", await brokenResponse.Content.ReadAsStringAsync());
        var metrics = await admin.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("proxysidecar_cache_entries_rejected_total{reason=\"key-mismatch\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("proxysidecar_cache_entries_rejected_total{reason=\"malformed\"}", metrics, StringComparison.Ordinal);
        Assert.False(setup.Process.HasExited, setup.Process.Stderr);
    }
}
