using System.Net;
using System.Text.Json.Nodes;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.IntegrationTests.Caching.Stores;
using static ProxySidecar.IntegrationTests.Caching.Stores.SharedCacheCluster;

namespace ProxySidecar.IntegrationTests.Admin;

/// <summary>POST /cache/purge on the admin port of one sidecar with the in-memory store.</summary>
public sealed class PurgeEndpointTests
{
    [Fact]
    public async Task Purge_NoTokenConfigured_403WithHowToEnableAndNothingPurged()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        cluster.Upstream.Map("/page", SharedCacheHttpTests.Counting("max-age=600"));
        var settings = cluster.Settings(store: "Memory");
        settings.Remove("Sidecar:Admin:PurgeToken");
        var sidecar = await cluster.StartSidecarAsync(settings);
        using var client = sidecar.CreateClient();
        await GetAsync(client, "/page");

        using var response = await PurgeAsync(sidecar, "all=true");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>();
        Assert.Contains("Sidecar:Admin:PurgeTokenFile", error, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Admin:PurgeToken", error, StringComparison.Ordinal);
        using var after = await GetAsync(client, "/page");
        Assert.True(IsHit(after), CacheStatus(after));
    }

    [Fact]
    public async Task Purge_MissingOrWrongToken_401AndTheEntryIsStillAHit()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        cluster.Upstream.Map("/page", SharedCacheHttpTests.Counting("max-age=600"));
        var sidecar = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));
        using var client = sidecar.CreateClient();
        await GetAsync(client, "/page");

        using var missing = await PurgeAsync(sidecar, "all=true", token: null);
        using var wrong = await PurgeAsync(sidecar, "url=" + Uri.EscapeDataString($"https://{Host}/page"), token: PurgeToken[..^1] + "X");
        using var basic = await SendAsync(sidecar, "all=true", "Basic " + Convert.ToBase64String("a:b"u8.ToArray()));

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, basic.StatusCode);
        using var after = await GetAsync(client, "/page");
        Assert.True(IsHit(after), CacheStatus(after));
        Assert.Equal(1, cluster.Upstream.Count);
    }

    [Fact]
    public async Task Purge_UrlWithToken_AllVariantsOfThatUrlMissAndOthersStay()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        cluster.Upstream.Map("/page", SharedCacheHttpTests.Counting("max-age=600"));
        cluster.Upstream.Map("/other", SharedCacheHttpTests.Counting("max-age=600"));
        var sidecar = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));
        using var client = sidecar.CreateClient();
        await GetAsync(client, "/page");
        await GetAsync(client, "/other");

        using var response = await PurgeAsync(sidecar, "url=" + Uri.EscapeDataString($"https://{Host}/page"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        var purged = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["purged"]!;
        Assert.Equal("url", purged["kind"]!.GetValue<string>());
        Assert.False(purged["soft"]!.GetValue<bool>());
        using var page = await GetAsync(client, "/page");
        using var other = await GetAsync(client, "/other");
        Assert.False(IsHit(page), CacheStatus(page));
        Assert.True(IsHit(other), CacheStatus(other));
    }

    [Fact]
    public async Task Purge_ParametersInAFormBody_Accepted()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        cluster.Upstream.Map("/tagged", SharedCacheHttpTests.Counting("max-age=600", surrogateKey: "t1"));
        var sidecar = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));
        using var client = sidecar.CreateClient();
        await GetAsync(client, "/tagged");
        using var admin = sidecar.CreateAdminClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/cache/purge", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("tag", "t1")]),
        };
        request.Headers.Authorization = new("Bearer", PurgeToken);

        using var response = await admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var after = await GetAsync(client, "/tagged");
        Assert.False(IsHit(after), CacheStatus(after));
    }

    [Theory]
    [InlineData("", "url=")]
    [InlineData("tag=a&all=true", "exactly one")]
    [InlineData("url=/relative", "absolute")]
    [InlineData("all=yes", "all=true")]
    [InlineData("tag=a&soft=perhaps", "soft")]
    public async Task Purge_BadParameters_400SayingWhatToSend(string query, string expected)
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        var sidecar = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));

        using var response = await PurgeAsync(sidecar, query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Purge_TokenFromAFile_AcceptedAndRotatedWithoutRestart()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        var file = cluster.Temp.Combine("purge-token");
        await File.WriteAllTextAsync(file, "first-token-0123456789abcdef\n");
        var settings = cluster.Settings(store: "Memory");
        settings.Remove("Sidecar:Admin:PurgeToken");
        settings["Sidecar:Admin:PurgeTokenFile"] = file;
        var sidecar = await cluster.StartSidecarAsync(settings);
        using var first = await PurgeAsync(sidecar, "all=true", token: "first-token-0123456789abcdef");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        await File.WriteAllTextAsync(file, "second-token-0123456789abcdef");

        using var old = await PurgeAsync(sidecar, "all=true", token: "first-token-0123456789abcdef");
        using var rotated = await PurgeAsync(sidecar, "all=true", token: "second-token-0123456789abcdef");
        Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
    }

    [Fact]
    public async Task Purge_OnThePublicPort_NeverReachesTheAdminEndpoint()
    {
        await using var cluster = await SharedCacheCluster.StartAsync(withRedis: false);
        var sidecar = await cluster.StartSidecarAsync(cluster.Settings(store: "Memory"));
        using var client = sidecar.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/cache/purge?all=true", UriKind.Relative));
        request.Headers.Host = Host;
        request.Headers.Authorization = new("Bearer", PurgeToken);

        using var response = await client.SendAsync(request);

        Assert.Equal("upstream:/cache/purge", await response.Content.ReadAsStringAsync());
    }

    private static async Task<HttpResponseMessage> SendAsync(SidecarHost sidecar, string query, string authorization)
    {
        using var admin = sidecar.CreateAdminClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/cache/purge?" + query, UriKind.Relative));
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        return await admin.SendAsync(request);
    }
}
