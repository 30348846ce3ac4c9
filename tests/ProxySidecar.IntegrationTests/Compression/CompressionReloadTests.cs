using ProxySidecar.IntegrationTests.Caching;
using ProxySidecar.IntegrationTests.Configuration;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Compression.CompressionTestSupport;

namespace ProxySidecar.IntegrationTests.Compression;

/// <summary>Sidecar:Compression reloads live from the mounted file; a change that does not validate keeps the last good settings.</summary>
public sealed class CompressionReloadTests
{
    [Fact]
    public async Task GoodChange_AppliesToTheNextRequest()
    {
        using var mount = new ConfigMapMount();
        await using var stack = await StartAsync(mount, """{ "Sidecar": { "Compression": { } } }""");
        using var client = stack.CreateClient();
        using (var before = await GetAsync(client, "/page"))
        {
            Assert.Equal("br", before.Coding());
        }

        mount.Publish("""{ "Sidecar": { "Compression": { "Rules": [ { "Name": "page-off", "Path": "/page", "Enabled": false } ] } } }""");
        var status = await stack.Sidecar.WaitForStatusAsync(s => s["compression"]?["rules"]?.AsArray().Count == 1, because: "the new rule is live");
        using var after = await GetAsync(client, "/page");

        Assert.Null(after.Coding());
        Assert.Equal(Page, after.Body());
        Assert.Equal("page-off", (string?)status["compression"]!["rules"]![0]);
        Assert.NotNull(status["compression"]!["lastReload"]);
    }

    [Theory]
    [InlineData("""{ "Sidecar": { "Compression": { "Enabled": false, "StoredBrotliQuality": 12 } } }""", "Sidecar:Compression:StoredBrotliQuality")]
    [InlineData("""{ "Sidecar": { "Compression": { "Rules": [ { "Path": "page", "Enabled": false } ] } } }""", "Sidecar:Compression:Rules:0:Path")]
    [InlineData("""{ "Sidecar": { "Compression": { "Enabled": false, "MimeTypes": [ "text/event-stream" ] } } }""", "Sidecar:Compression:MimeTypes:0")]
    public async Task BadChange_IsRejected_AndTheLastGoodSettingsStay(string bad, string named)
    {
        using var mount = new ConfigMapMount();
        await using var stack = await StartAsync(mount, """{ "Sidecar": { "Compression": { } } }""");
        using var client = stack.CreateClient();

        mount.Publish(bad);
        var status = await stack.Sidecar.WaitForStatusAsync(s => s["configFile"]?["lastError"] is not null, because: "the bad change is reported");
        using var still = await GetAsync(client, "/page");

        Assert.Contains(named, (string?)status["configFile"]!["lastError"], StringComparison.Ordinal);
        Assert.Equal("br", still.Coding());
        Assert.Equal(Page, still.Decoded());
        Assert.True((bool)status["compression"]!["enabled"]!);
        Assert.Null(status["compression"]!["lastReload"]);
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        AcceptBrotliAndGzip(request);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static async Task<SidecarSetup> StartAsync(ConfigMapMount mount, string json)
    {
        mount.Publish(json);
        var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:ConfigFile"] = mount.FilePath,
            ["Sidecar:ConfigFileReloadInterval"] = "00:00:00.2",
        });
        stack.Upstream.Map("/page", Serve(Page, headers: [("Cache-Control", "no-store")]));
        return stack;
    }
}
