using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;
using Xunit.Abstractions;
using static ProxySidecar.IntegrationTests.Caching.Stores.SharedCacheCluster;

namespace ProxySidecar.IntegrationTests.Caching.Stores;

/// <summary>
/// Clients keep sending cacheable requests while Redis is up, hung (SIGSTOP), dead (SIGKILL) and back:
/// every answer must be correct and 2xx. Latency and throughput per phase are printed next to the
/// memory store's (figures for the record, not assertions).
/// </summary>
public sealed class RedisOutageTests(ITestOutputHelper output)
{
    private const int Clients = 8;
    private const int Urls = 40;
    private static readonly TimeSpan Phase = TimeSpan.FromSeconds(3);

    [RedisFact]
    public async Task Requests_RedisHungThenKilledThenBack_EveryAnswerCorrectAndHitsResume()
    {
        await using var cluster = await SharedCacheCluster.StartAsync();
        cluster.Upstream.Fallback = async context =>
        {
            context.Response.Headers.CacheControl = "max-age=300";
            await context.Response.WriteAsync("body of " + context.Request.Path + context.Request.QueryString);
        };
        var memory = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));
        var redis = await cluster.StartSidecarAsync(cluster.Settings());
        using var memoryClient = memory.CreateClient();
        using var redisClient = redis.CreateClient();
        var results = new List<PhaseResult>();

        // Not measured: the first seconds of a process are JIT compilation.
        await RunPhaseAsync("warm-up", memoryClient, TimeSpan.FromSeconds(1.5));
        await RunPhaseAsync("warm-up", redisClient, TimeSpan.FromSeconds(1.5));

        results.Add(await RunPhaseAsync("memory store", memoryClient));
        results.Add(await RunPhaseAsync("redis up", redisClient));

        cluster.Redis!.Pause();
        results.Add(await RunPhaseAsync("redis hung (SIGSTOP)", redisClient));
        var hungStatus = await redis.GetStatusAsync();

        cluster.Redis.Kill();
        results.Add(await RunPhaseAsync("redis dead (SIGKILL)", redisClient));
        var deadStatus = await redis.GetStatusAsync();
        await redis.WaitForReadinessAsync(HttpStatusCode.OK);

        await cluster.Redis.RestartAsync();
        var restarted = Stopwatch.StartNew();
        results.Add(await RunPhaseAsync("redis back (restarted)", redisClient));
        var firstHit = await FirstSharedHitAsync(redisClient, restarted);

        output.WriteLine($"{Clients} clients, {Urls} cacheable URLs, {Phase.TotalSeconds:0} s per phase; Redis operation/connect timeouts 250 ms, breaker 2 s");
        output.WriteLine($"{"phase",-24} {"requests",9} {"req/s",8} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"hits",6}");
        foreach (var r in results)
        {
            output.WriteLine(r.ToString());
        }

        output.WriteLine($"hung: breaker {hungStatus["sharedCache"]!["breaker"]}, state {hungStatus["sharedCache"]!["state"]}; dead: connected {deadStatus["sharedCache"]!["connected"]}, breaker {deadStatus["sharedCache"]!["breaker"]}");
        output.WriteLine($"first hit from Redis {firstHit.TotalMilliseconds:0} ms after it was restarted");

        foreach (var r in results)
        {
            Assert.True(r.Requests > 0, r.Name + ": no request completed");
            Assert.Empty(r.Failures);
        }

        Assert.Equal("degraded", hungStatus["sharedCache"]!["state"]!.GetValue<string>());
        Assert.Equal("degraded", deadStatus["sharedCache"]!["state"]!.GetValue<string>());
    }

    /// <summary>Hits served from Redis again after it came back: a fresh URL is stored, then must be a hit.</summary>
    private static async Task<TimeSpan> FirstSharedHitAsync(HttpClient client, Stopwatch sinceRestart)
    {
        var deadline = TimeSpan.FromSeconds(15);
        var attempt = 0;
        while (sinceRestart.Elapsed < deadline)
        {
            var path = $"/after-restart?n={attempt++}";
            using (await GetAsync(client, path))
            {
            }

            for (var i = 0; i < 10; i++)
            {
                using var again = await GetAsync(client, path);
                if (IsHit(again))
                {
                    return sinceRestart.Elapsed;
                }

                await Task.Delay(20);
            }
        }

        throw new TimeoutException($"no hit from Redis within {deadline} of its restart");
    }

    private static async Task<PhaseResult> RunPhaseAsync(string name, HttpClient client, TimeSpan? duration = null)
    {
        var phase = duration ?? Phase;
        var latencies = new List<double>[Clients];
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var hits = 0;
        var watch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, Clients).Select(async worker =>
        {
            var own = latencies[worker] = [];
            var i = worker;
            while (watch.Elapsed < phase)
            {
                var path = $"/item?id={i++ % Urls}";
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await GetAsync(client, path);
                    own.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    var body = await response.Content.ReadAsStringAsync();
                    if (!response.IsSuccessStatusCode || body != "body of " + path)
                    {
                        failures.Add($"{path}: {(int)response.StatusCode} {body}");
                    }

                    if (IsHit(response))
                    {
                        Interlocked.Increment(ref hits);
                    }
                }
                catch (HttpRequestException ex)
                {
                    failures.Add($"{path}: {ex.Message}");
                }
            }
        }).ToArray();
        await Task.WhenAll(workers);
        var elapsed = watch.Elapsed;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new PhaseResult(name, all.Length, all.Length / elapsed.TotalSeconds, Percentile(all, 0.50), Percentile(all, 0.99), all.Length == 0 ? 0 : all[^1], hits, failures.ToArray());
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private sealed record PhaseResult(string Name, int Requests, double PerSecond, double P50, double P99, double Max, int Hits, string[] Failures)
    {
        public override string ToString() => string.Create(
            CultureInfo.InvariantCulture,
            $"{Name,-24} {Requests,9} {PerSecond,8:0} {P50,8:0.0} {P99,8:0.0} {Max,8:0.0} {(Requests == 0 ? 0 : 100.0 * Hits / Requests),5:0}%");
    }
}
