using System.IO.Compression;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Compression;
using ProxySidecar.IntegrationTests.Caching;
using static ProxySidecar.IntegrationTests.Compression.CompressionTestSupport;

namespace ProxySidecar.IntegrationTests.Compression;

/// <summary>
/// Responses that are not served from the cache, compressed as they stream through: the BREACH rule for requests
/// with credentials, rules per path, validators mapped back for the app, and compression switched off.
/// </summary>
public sealed class CompressionPassThroughTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Uncacheable_IsCompressedAsItStreams_EveryTime()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/private", Serve(Page, "application/json", ("Cache-Control", "private"), ("ETag", "\"u1\"")));

        using var first = await host.GetAsync("/private", AcceptBrotliAndGzip);
        using var second = await host.GetAsync("/private", Accept("gzip"));

        Assert.Equal("br", first.Coding());
        Assert.Equal("gzip", second.Coding());
        Assert.Equal(Page, first.Decoded());
        Assert.Equal(Page, second.Decoded());
        Assert.Equal("\"u1-br\"", first.Tag()!.Tag);
        Assert.Equal("\"u1-gzip\"", second.Tag()!.Tag);
        Assert.False(first.Content.Headers.NonValidated.Contains("Content-Length"));
        Assert.Equal("Accept-Encoding", first.VaryText());
        Assert.Equal(2, host.Sidecar.Services.GetRequiredService<CompressionMetrics>().StreamedEncodes);
    }

    [Fact]
    public async Task Compressed_EachFlushOfTheAppReachesTheClient()
    {
        await using var host = await CacheTestHost.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Upstream.Map("/stream", async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("[" + new string(' ', 1500) + "\"first\",");
            await context.Response.Body.FlushAsync();
            await release.Task.WaitAsync(Bound);
            await context.Response.WriteAsync("\"last\"]");
        });

        using var request = new HttpRequestMessage(HttpMethod.Get, "/stream");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "br");
        using var response = await host.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Bound);
        await using var body = await response.Content.ReadAsStreamAsync();
        await using var decoder = new BrotliStream(body, CompressionMode.Decompress);
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().EndsWith("\"first\",", StringComparison.Ordinal))
        {
            var read = await decoder.ReadAsync(buffer).AsTask().WaitAsync(Bound);
            Assert.NotEqual(0, read);
            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        Assert.Equal("br", response.Coding());
        Assert.False(release.Task.IsCompleted);
        release.SetResult();
        using var reader = new StreamReader(decoder);
        Assert.Equal("\"last\"]", await reader.ReadToEndAsync().WaitAsync(Bound));
    }

    [Theory]
    [InlineData("Cookie", "session=alice")]
    [InlineData("Authorization", "Bearer alice")]
    public async Task RequestWithCredentials_IsNotCompressed(string name, string value)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/account", Serve("<p>secret token 1234</p>" + Page, headers: [("Cache-Control", "private")]));

        using var response = await host.GetAsync("/account", Accept("br", r => r.Headers.TryAddWithoutValidation(name, value)));

        Assert.Null(response.Coding());
        Assert.Equal("Accept-Encoding", response.VaryText());
        Assert.StartsWith("<p>secret token 1234</p>", response.Body(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RequestWithCredentials_RuleTurnsCompressionOn()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Compression:Rules:0:Path"] = "/reports/**",
            ["Sidecar:Compression:Rules:0:CompressWithCredentials"] = "true",
        });
        host.Upstream.Map("/reports/q1", Serve(Page, headers: [("Cache-Control", "private")]));
        host.Upstream.Map("/account", Serve(Page, headers: [("Cache-Control", "private")]));

        using var report = await host.GetAsync("/reports/q1", Accept("br", r => r.Headers.TryAddWithoutValidation("Cookie", "session=alice")));
        using var account = await host.GetAsync("/account", Accept("br", r => r.Headers.TryAddWithoutValidation("Cookie", "session=alice")));

        Assert.Equal("br", report.Coding());
        Assert.Equal(Page, report.Decoded());
        Assert.Null(account.Coding());
    }

    [Fact]
    public async Task RuleTurnsCompressionOff_ForItsPaths()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Compression:Rules:0:Name"] = "raw",
            ["Sidecar:Compression:Rules:0:Path"] = "/raw/**",
            ["Sidecar:Compression:Rules:0:Enabled"] = "false",
        });
        host.Upstream.Map("/raw/page", Serve(Page, headers: [("Cache-Control", "max-age=600"), ("ETag", "\"x\"")]));
        host.Upstream.Map("/page", Serve(Page, headers: [("Cache-Control", "max-age=600")]));

        using var raw = await host.GetAsync("/raw/page", AcceptBrotliAndGzip);
        await host.WaitUntilStoredAsync("/raw/page");
        using var rawHit = await host.GetAsync("/raw/page", AcceptBrotliAndGzip);
        using var page = await host.GetAsync("/page", AcceptBrotliAndGzip);

        Assert.Null(raw.Coding());
        Assert.Null(rawHit.Coding());
        Assert.Empty(rawHit.Headers.Vary);
        Assert.Equal("\"x\"", rawHit.Tag()!.Tag);
        Assert.Equal("br", page.Coding());
        var status = await host.Sidecar.GetStatusAsync();
        Assert.Equal("raw", (string?)status["compression"]!["rules"]![0]);
    }

    [Fact]
    public async Task ClientValidatorsOfACompressedRepresentation_ReachTheAppAsItsOwn()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/doc", async context =>
        {
            context.Response.Headers.CacheControl = "no-cache, private";
            context.Response.Headers.ETag = "\"d7\"";
            if (HttpMethods.IsPut(context.Request.Method))
            {
                context.Response.StatusCode = context.Request.Headers.IfMatch == "\"d7\"" ? 204 : 412;
                return;
            }

            if (context.Request.Headers.IfNoneMatch == "\"d7\"")
            {
                context.Response.StatusCode = 304;
                return;
            }

            await Serve(Page)(context);
        });

        using var get = await host.GetAsync("/doc", AcceptBrotliAndGzip);
        using var conditional = await host.GetAsync("/doc", Accept("br", r => r.Headers.TryAddWithoutValidation("If-None-Match", get.Tag()!.ToString())));
        using var put = await host.SendAsync(HttpMethod.Put, "/doc", r =>
        {
            r.Headers.TryAddWithoutValidation("If-Match", get.Tag()!.ToString());
            r.Content = new StringContent("new text");
        });

        Assert.Equal("\"d7-br\"", get.Tag()!.Tag);
        Assert.Equal(HttpStatusCode.NotModified, conditional.StatusCode);
        Assert.Equal("\"d7-br\"", conditional.Tag()!.Tag);
        Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        var received = host.Upstream.Received.Where(r => r.Path == "/doc").ToList();
        Assert.Equal("\"d7\"", received[1].Header("If-None-Match"));
        Assert.Equal("\"d7\"", received[2].Header("If-Match"));
    }

    [Fact]
    public async Task CompressionOff_NothingIsCompressed_AndValidatorsAreLeftAlone()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Compression:Enabled"] = "false" });
        host.Upstream.Map("/off", Serve(Page, headers: [("Cache-Control", "max-age=600")]));

        using var miss = await host.GetAsync("/off", Accept("br", r => r.Headers.TryAddWithoutValidation("If-None-Match", "\"a-br\"")));
        await host.WaitUntilStoredAsync("/off");
        using var hit = await host.GetAsync("/off", AcceptBrotliAndGzip);

        Assert.Null(miss.Coding());
        Assert.Null(hit.Coding());
        Assert.Empty(hit.Headers.Vary);
        Assert.Equal("\"a-br\"", host.Upstream.Received.First(r => r.Path == "/off").Header("If-None-Match"));
    }

    [Fact]
    public async Task CacheOff_PassThroughIsStillCompressed()
    {
        await using var host = await CacheTestHost.StartAsync(new Dictionary<string, string?> { ["Sidecar:Cache:Enabled"] = "false" });
        host.Upstream.Map("/nocache", Serve(Page, headers: [("Cache-Control", "max-age=600")]));

        using var response = await host.GetAsync("/nocache", AcceptBrotliAndGzip);

        Assert.Equal("br", response.Coding());
        Assert.Equal(Page, response.Decoded());
    }
}
