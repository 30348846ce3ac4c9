using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Caching.Stores.SharedCacheCluster;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>
/// The features the in-process tests prove, once more through the real binary: tests/run.sh runs these against the
/// Native AOT executable the default image ships, where trimming or a missing source-generated type would show.
/// </summary>
[Trait("Category", SidecarProcess.Category)]
public sealed class ShippedBinaryTests
{
    private const string PurgeToken = "binary-purge-token-0123456789abcdef";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>RFC 9111 caching in a shared Redis, tag purge with the token, /status and /metrics.</summary>
    [RedisFact]
    public async Task Binary_SharedRedisCache_HitPurgeStatusAndMetrics()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var upstream = await TestUpstream.StartAsync();
        var served = 0;
        upstream.Map("/page", async context =>
        {
            var version = Interlocked.Increment(ref served);
            context.Response.Headers.CacheControl = "public, max-age=600";
            context.Response.Headers["Surrogate-Key"] = "binary-page";
            await context.Response.WriteAsync($"v{version}");
        });
        using var setup = ProcessSetup.Start(upstream.Address, new Dictionary<string, string?>
        {
            ["Sidecar__Cache__Store"] = "Redis",
            ["Sidecar__Cache__Redis__Configuration"] = redis.Configuration,
            ["Sidecar__Cache__Redis__InstanceName"] = "binary:",
            ["Sidecar__Admin__PurgeToken"] = PurgeToken,
        });
        await setup.WaitForReadinessAsync();
        using var client = setup.CreateClient();
        using var admin = setup.CreateAdminClient();
        await WaitForStatusAsync(admin, s => s["sharedCache"]?["connected"]?.GetValue<bool>() == true, "connected to Redis");

        using var first = await client.GetAsync(new Uri("/page", UriKind.Relative));
        Assert.Equal("v1", await first.Content.ReadAsStringAsync());
        Assert.False(IsHit(first), CacheStatus(first));
        await redis.WaitForKeysAsync("binary:*");
        using var second = await client.GetAsync(new Uri("/page", UriKind.Relative));

        Assert.Equal("v1", await second.Content.ReadAsStringAsync());
        Assert.True(IsHit(second), CacheStatus(second));
        Assert.Equal(1, Volatile.Read(ref served));

        using var purge = new HttpRequestMessage(HttpMethod.Post, new Uri("/cache/purge?tag=binary-page", UriKind.Relative));
        purge.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", PurgeToken);
        using var purged = await admin.SendAsync(purge);
        var purgeBody = await purged.Content.ReadAsStringAsync();
        Assert.True(purged.StatusCode == HttpStatusCode.OK, purgeBody);
        Assert.Equal("tag", (string?)JsonNode.Parse(purgeBody)!["purged"]?["kind"]);

        using var third = await client.GetAsync(new Uri("/page", UriKind.Relative));
        Assert.Equal("v2", await third.Content.ReadAsStringAsync());
        Assert.False(IsHit(third), CacheStatus(third));

        var status = JsonNode.Parse(await admin.GetStringAsync(new Uri("/status", UriKind.Relative)))!;
        Assert.True(status["cache"]?["enabled"]?.GetValue<bool>());
        Assert.Equal("redis", (string?)status["sharedCache"]?["store"]);
        Assert.NotNull(status["tlsPolicy"]?["enforcedBy"]);
        Assert.NotEmpty(status["upstream"]!["destinations"]!.AsObject());
        var metrics = await admin.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("http_server_request_duration_seconds_bucket", metrics, StringComparison.Ordinal);
        Assert.Contains("proxysidecar_cache_", metrics, StringComparison.Ordinal);
    }

    /// <summary>New certificate files are served on new connections without a restart.</summary>
    [Fact]
    public async Task Binary_CertificateFilesReplaced_NewCertificateServedWithoutRestart()
    {
        await using var upstream = await TestUpstream.StartAsync();
        using var setup = ProcessSetup.Start(upstream.Address, new Dictionary<string, string?> { ["Sidecar__Tls__ReloadInterval"] = "00:00:00.2" });
        await setup.WaitForReadinessAsync();
        var before = await ServedThumbprintAsync(setup.HttpsPort);
        var next = setup.Ca.Issue();

        next.WriteTo(setup.Temp.Combine("tls"));

        var deadline = DateTime.UtcNow + Bound;
        var served = before;
        while (served != next.Thumbprint && DateTime.UtcNow < deadline && !setup.Process.HasExited)
        {
            await Task.Delay(100);
            served = await ServedThumbprintAsync(setup.HttpsPort);
        }

        Assert.Equal(next.Thumbprint, served);
        Assert.NotEqual(before, served);
        Assert.False(setup.Process.HasExited, setup.Process.Stderr);
    }

    private static async Task<string> ServedThumbprintAsync(int port)
    {
        string? thumbprint = null;
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
        {
            thumbprint = certificate is null ? null : new X509Certificate2(certificate).GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);
            return true;
        });
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        return thumbprint ?? throw new InvalidOperationException("The server sent no certificate.");
    }

    private static async Task WaitForStatusAsync(HttpClient admin, Func<JsonNode, bool> condition, string because)
    {
        var deadline = DateTime.UtcNow + Bound;
        var last = "";
        while (DateTime.UtcNow < deadline)
        {
            last = await admin.GetStringAsync(new Uri("/status", UriKind.Relative));
            if (condition(JsonNode.Parse(last)!))
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"/status never showed: {because}. Last:\n{last}");
    }
}
