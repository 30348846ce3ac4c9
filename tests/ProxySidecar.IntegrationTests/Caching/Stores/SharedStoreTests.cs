using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Caching.Stores;
using ProxySidecar.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ProxySidecar.IntegrationTests.Caching.Stores;

/// <summary>The store the HTTP cache sees, on real sidecars sharing a real redis-server.</summary>
public sealed class SharedStoreTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [RedisFact]
    public async Task Store_EntryWrittenThroughReplicaA_IsReadThroughReplicaB()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        var a = await cluster.StartSidecarAsync(cluster.Settings());
        var b = await cluster.StartSidecarAsync(cluster.Settings());
        var value = Encoding.UTF8.GetBytes("entry from A");

        await Store(a).SetAsync("key-1", value, ["tag-1"], TimeSpan.FromMinutes(1), default);

        var read = await PollAsync(() => Store(b).GetAsync("key-1", default).AsTask(), v => v is not null);
        Assert.Equal(value, read);
    }

    [RedisFact]
    public async Task EvictByTag_OnReplicaA_RemovesTheCopyInReplicaBsMemory()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        var settings = cluster.Settings(localCache: true);
        settings["Sidecar:Cache:Redis:LocalCache:MaxTimeToLive"] = "00:05:00";
        var a = await cluster.StartSidecarAsync(settings);
        var b = await cluster.StartSidecarAsync(settings);
        await b.WaitForStatusAsync(s => s["sharedCache"]?["purgeChannelSubscribed"]?.GetValue<bool>() == true, because: "B listens for purges");
        await Store(a).SetAsync("key-2", Encoding.UTF8.GetBytes("v"), ["products"], TimeSpan.FromMinutes(5), default);
        await PollAsync(() => Store(b).GetAsync("key-2", default).AsTask(), v => v is not null);
        Assert.Equal(1, b.Services.GetRequiredService<LocalCacheHolder>().Level!.Count);

        await Store(a).EvictByTagAsync("products", default);

        // B's in-memory copy would live five minutes; only the announcement over pub/sub removes it.
        await PollAsync(() => Task.FromResult(b.Services.GetRequiredService<LocalCacheHolder>().Level!.Count), c => c == 0);
        Assert.Null(await Store(b).GetAsync("key-2", default));
    }

    [RedisFact]
    public async Task Get_RedisHung_IsAMissAndTheBreakerOpens()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        var a = await cluster.StartSidecarAsync(cluster.Settings());
        await Store(a).SetAsync("key-3", Encoding.UTF8.GetBytes("v"), null, TimeSpan.FromMinutes(1), default);
        await PollAsync(() => Store(a).GetAsync("key-3", default).AsTask(), v => v is not null);

        cluster.Redis!.Pause();
        try
        {
            var timings = new List<double>();
            for (var i = 0; i < 10; i++)
            {
                var watch = Stopwatch.StartNew();
                Assert.Null(await Store(a).GetAsync("key-3", default).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
                timings.Add(watch.Elapsed.TotalMilliseconds);
            }

            output.WriteLine("reads while Redis is hung (ms): " + string.Join(", ", timings.Select(t => t.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture))));
            var status = await a.WaitForStatusAsync(s => s["sharedCache"]?["breaker"]?.GetValue<string>() == "open", because: "the breaker opens");
            Assert.Equal("degraded", status["sharedCache"]!["state"]!.GetValue<string>());
            await a.WaitForReadinessAsync(HttpStatusCode.OK);
        }
        finally
        {
            cluster.Redis.Resume();
        }

        // Recovery by itself.
        await PollAsync(() => Store(a).GetAsync("key-3", default).AsTask(), v => v is not null);
        await a.WaitForStatusAsync(s => s["sharedCache"]?["state"]?.GetValue<string>() == "ok", because: "Redis is back");
    }

    [RedisFact]
    public async Task Status_RedisKilledThenRestarted_DegradedButReadyThenOk()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        var a = await cluster.StartSidecarAsync(cluster.Settings());
        await a.WaitForStatusAsync(s => s["sharedCache"]?["connected"]?.GetValue<bool>() == true, because: "connected at first");

        cluster.Redis!.Kill();
        var down = await a.WaitForStatusAsync(
            s => s["sharedCache"]?["connected"]?.GetValue<bool>() == false && s["sharedCache"]?["lastError"] is not null,
            because: "the connection loss is seen and reported");
        Assert.Equal("degraded", down["sharedCache"]!["state"]!.GetValue<string>());
        Assert.Null(await Store(a).GetAsync("anything", default));
        await a.WaitForReadinessAsync(HttpStatusCode.OK);

        await cluster.Redis.RestartAsync();
        await a.WaitForStatusAsync(s => s["sharedCache"]?["state"]?.GetValue<string>() == "ok", Deadline, because: "reconnects by itself");
        await Store(a).SetAsync("after", Encoding.UTF8.GetBytes("v"), null, TimeSpan.FromMinutes(1), default);
        await PollAsync(() => Store(a).GetAsync("after", default).AsTask(), v => v is not null);
    }

    [RedisFact]
    public async Task Start_RedisDown_StartsAndTheFirstRequestIsAnswered()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        cluster.Upstream.Map("/first", SharedCacheHttpTests.Counting("max-age=60"));
        var closedPort = FreePort.Next();
        var watch = Stopwatch.StartNew();
        var memory = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));
        var memoryStarted = watch.Elapsed;
        using var memoryClient = memory.CreateClient();
        watch.Restart();
        using (await SharedCacheCluster.GetAsync(memoryClient, "/first-through-memory"))
        {
        }

        var memoryFirstRequest = watch.Elapsed;
        watch.Restart();
        var a = await cluster.StartSidecarAsync(cluster.Settings(redisConfiguration: $"127.0.0.1:{closedPort}"));
        var started = watch.Elapsed;
        using var client = a.CreateClient();
        watch.Restart();
        using var first = await SharedCacheCluster.GetAsync(client, "/first");
        var firstRequest = watch.Elapsed;
        watch.Restart();
        using var second = await SharedCacheCluster.GetAsync(client, "/first");
        var secondRequest = watch.Elapsed;
        output.WriteLine($"start-up: memory store {memoryStarted.TotalMilliseconds:0} ms, Redis store with Redis down {started.TotalMilliseconds:0} ms");
        output.WriteLine($"first request: memory store {memoryFirstRequest.TotalMilliseconds:0} ms; Redis down: first {firstRequest.TotalMilliseconds:0} ms, second {secondRequest.TotalMilliseconds:0} ms (connect and operation timeouts 250 ms)");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("v1", await first.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        await a.WaitForReadinessAsync(HttpStatusCode.OK);
        var status = await a.GetStatusAsync();
        Assert.Equal("degraded", status["sharedCache"]!["state"]!.GetValue<string>());
        Assert.False(status["sharedCache"]!["connected"]!.GetValue<bool>());
    }

    private static IOutputCacheStore Store(SidecarHost sidecar) => sidecar.Services.GetRequiredService<IOutputCacheStore>();

    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var deadline = DateTime.UtcNow + Deadline;
        T value;
        do
        {
            value = await read();
            if (done(value))
            {
                return value;
            }

            await Task.Delay(25);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"condition not met within {Deadline}; last value: {value}");
    }
}

public sealed class SharedStoreStartupTests
{
    [Fact]
    public async Task Start_RedisStoreWithoutConfiguration_FailsNamingTheKey()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        var settings = cluster.Settings(store: "Memory");
        settings["Sidecar:Cache:Store"] = "Redis";

        var error = await Assert.ThrowsAnyAsync<Exception>(() => cluster.StartSidecarAsync(settings));

        Assert.Contains("Sidecar:Cache:Redis:Configuration", error.ToString(), StringComparison.Ordinal);
    }
}
