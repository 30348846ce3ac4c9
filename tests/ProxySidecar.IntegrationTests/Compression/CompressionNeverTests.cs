using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Compression;
using ProxySidecar.IntegrationTests.Caching;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Compression.CompressionTestSupport;

namespace ProxySidecar.IntegrationTests.Compression;

/// <summary>
/// Every response compression must leave as the app sent it, through real TLS, both from the cache and passing
/// through: the app's own Content-Encoding, no-transform, ranges, HEAD, statuses without content, event streams,
/// gRPC, a client that refuses every coding, small bodies and types not worth it.
/// </summary>
public sealed class CompressionNeverTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AppsOwnContentEncoding_IsPassedOnAsSent_MissAndHit()
    {
        await using var host = await CacheTestHost.StartAsync();
        var gzipped = Gzip(Page);
        host.Upstream.Map("/encoded", async context =>
        {
            context.Response.ContentType = "text/html";
            context.Response.Headers.ContentEncoding = "gzip";
            context.Response.Headers.CacheControl = "max-age=600";
            context.Response.ContentLength = gzipped.Length;
            await context.Response.Body.WriteAsync(gzipped);
        });

        using var miss = await host.GetAsync("/encoded", AcceptBrotliAndGzip);
        await host.WaitUntilStoredAsync("/encoded");
        using var hit = await host.GetAsync("/encoded", AcceptBrotliAndGzip);

        foreach (var response in new[] { miss, hit })
        {
            Assert.Equal("gzip", response.Coding());
            Assert.Equal(gzipped, await response.Content.ReadAsByteArrayAsync());
            Assert.Empty(response.Headers.Vary);
        }

        Assert.Equal(0, Metrics(host).StoredEncodes + Metrics(host).StreamedEncodes);
    }

    [Theory]
    [InlineData("max-age=600, no-transform")]
    [InlineData("no-store, no-transform")]
    public async Task ResponseNoTransform_IsSentAsIs(string cacheControl)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/nt", Serve(Page, headers: [("Cache-Control", cacheControl)]));

        using var first = await host.GetAsync("/nt", AcceptBrotliAndGzip);
        using var second = await host.GetAsync("/nt", AcceptBrotliAndGzip);

        Assert.Null(first.Coding());
        Assert.Null(second.Coding());
        Assert.Equal(Page, second.Body());
    }

    [Fact]
    public async Task RequestNoTransform_IsSentAsIs_FromTheCacheToo()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/rnt", Serve(Page, headers: [("Cache-Control", "max-age=600")]));
        await host.WaitUntilStoredAsync("/rnt");

        using var hit = await host.GetAsync("/rnt", Accept("br", r => r.Headers.CacheControl = new CacheControlHeaderValue { NoTransform = true }));

        Assert.StartsWith("ProxySidecar; hit", hit.CacheStatus(), StringComparison.Ordinal);
        Assert.Null(hit.Coding());
        Assert.Equal(Page, hit.Body());
    }

    [Fact]
    public async Task RangeOfAStoredEntry_IsOfTheAppsBytes_Uncompressed()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/range", Serve(Page, headers: [("Cache-Control", "max-age=600"), ("ETag", "\"g1\"")]));
        await host.WaitUntilStoredAsync("/range");

        using var partial = await host.GetAsync("/range", Accept("br", r => r.Headers.Range = new RangeHeaderValue(10, 29)));
        using var ifRangeOfCompressed = await host.GetAsync("/range", Accept("br", r =>
        {
            r.Headers.Range = new RangeHeaderValue(10, 29);
            r.Headers.TryAddWithoutValidation("If-Range", "\"g1-br\"");
        }));

        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Null(partial.Coding());
        Assert.Equal(Page.Substring(10, 20), partial.Body());
        Assert.Equal("bytes 10-29/" + Page.Length, partial.Content.Headers.ContentRange!.ToString());
        Assert.Equal("Accept-Encoding", partial.VaryText());

        // The client's bytes are of the compressed representation: no range of the app's bytes may be spliced onto them.
        Assert.Equal(HttpStatusCode.OK, ifRangeOfCompressed.StatusCode);
        Assert.Null(ifRangeOfCompressed.Coding());
        Assert.Equal(Page, ifRangeOfCompressed.Body());
    }

    [Fact]
    public async Task AppsPartialContent_IsPassedOnAsSent()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/partial", async context =>
        {
            var part = Encoding.UTF8.GetBytes(Page[..2000]);
            context.Response.StatusCode = 206;
            context.Response.ContentType = "text/html";
            context.Response.Headers.ContentRange = $"bytes 0-1999/{Page.Length}";
            context.Response.ContentLength = part.Length;
            await context.Response.Body.WriteAsync(part);
        });

        using var response = await host.GetAsync("/partial", Accept("br", r => r.Headers.Range = new RangeHeaderValue(0, 1999)));

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Null(response.Coding());
        Assert.Equal(Page[..2000], response.Body());
    }

    [Fact]
    public async Task Head_IsNeverCompressed_MissAndHit()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/head", Serve(Page, headers: [("Cache-Control", "max-age=600")]));
        host.Upstream.Map("/head-only", Serve(Page, headers: [("Cache-Control", "no-store")]));
        await host.WaitUntilStoredAsync("/head");

        using var hit = await host.SendAsync(HttpMethod.Head, "/head", AcceptBrotliAndGzip);
        using var passed = await host.SendAsync(HttpMethod.Head, "/head-only", AcceptBrotliAndGzip);

        Assert.StartsWith("ProxySidecar; hit", hit.CacheStatus(), StringComparison.Ordinal);
        foreach (var response in new[] { hit, passed })
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Null(response.Coding());
            Assert.Equal(Page.Length, response.Length());
        }
    }

    [Theory]
    [InlineData(204)]
    [InlineData(304)]
    public async Task StatusWithoutContent_IsNotCompressed(int status)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/empty", context =>
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "text/html";
            context.Response.Headers.ETag = "\"z\"";
            return Task.CompletedTask;
        });

        using var response = await host.GetAsync("/empty", Accept("br", r => r.Headers.TryAddWithoutValidation("If-None-Match", "\"z\"")));

        Assert.Equal((HttpStatusCode)status, response.StatusCode);
        Assert.Null(response.Coding());
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("\"z\"", response.Tag()!.Tag);
    }

    [Fact]
    public async Task EventStream_IsNeitherCompressedNorHeldBack()
    {
        await using var host = await CacheTestHost.StartAsync();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Upstream.Map("/events", async context =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: " + new string('a', 2000) + "\n\n");
            await context.Response.Body.FlushAsync();
            await release.Task.WaitAsync(Bound);
            await context.Response.WriteAsync("data: last\n\n");
        });

        using var request = new HttpRequestMessage(HttpMethod.Get, "/events");
        AcceptBrotliAndGzip(request);
        using var response = await host.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).WaitAsync(Bound);
        await using var body = await response.Content.ReadAsStreamAsync();
        var first = await ReadUntilAsync(body, "\n\n");

        Assert.Null(response.Coding());
        Assert.Equal("data: " + new string('a', 2000) + "\n\n", first);
        Assert.False(release.Task.IsCompleted);
        release.SetResult();
        using var reader = new StreamReader(body);
        Assert.Equal("data: last\n\n", await reader.ReadToEndAsync().WaitAsync(Bound));
    }

    [Fact]
    public async Task Grpc_IsNotCompressed()
    {
        // Even when the list names every application/ type.
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?> { ["Sidecar:Upstream:Protocol"] = "Http2", ["Sidecar:Compression:MimeTypes:0"] = "application/*" },
            http2Upstream: true);
        var frame = new byte[] { 0, 0, 0, 7, 208 }.Concat(Encoding.UTF8.GetBytes(Page[..2000])).ToArray();
        stack.Upstream.Map("/greet.Greeter/SayHello", async context =>
        {
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(frame);
            context.Response.AppendTrailer("grpc-status", "0");
        });
        using var client = stack.CreateClient(HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/greet.Greeter/SayHello")
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, br");

        using var response = await client.SendAsync(request).WaitAsync(Bound);

        Assert.Null(response.Coding());
        Assert.Equal(frame, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("0", Assert.Single(response.TrailingHeaders.GetValues("grpc-status")));
    }

    [Fact]
    public async Task GrpcRequest_ItsResponseIsNotCompressedWhateverItsType()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/rpc", Serve(Page, "text/plain"));

        using var response = await host.SendAsync(HttpMethod.Post, "/rpc", Accept("br", r => r.Content = new ByteArrayContent([0, 0, 0, 0, 0])
        {
            Headers = { ContentType = new MediaTypeHeaderValue("application/grpc") },
        }));

        Assert.Null(response.Coding());
        Assert.Equal(Page, response.Body());
    }

    [Theory]
    [InlineData("identity;q=1, *;q=0")]
    [InlineData("br;q=0, gzip;q=0")]
    [InlineData("deflate")]
    [InlineData(null)]
    public async Task ClientRefusingEveryCoding_GetsTheAppsBytes_MissAndHit(string? acceptEncoding)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/refused", Serve(Page, headers: [("Cache-Control", "max-age=600")]));
        Action<HttpRequestMessage> accept = acceptEncoding is null ? _ => { } : Accept(acceptEncoding);

        using var miss = await host.GetAsync("/refused", accept);
        await host.WaitUntilStoredAsync("/refused");
        using var hit = await host.GetAsync("/refused", accept);

        foreach (var response in new[] { miss, hit })
        {
            Assert.Null(response.Coding());
            Assert.Equal(Page, response.Body());
            Assert.Equal("Accept-Encoding", response.VaryText());
        }

        Assert.Equal(0, Metrics(host).StoredEncodes + Metrics(host).StreamedEncodes);
    }

    [Theory]
    [InlineData("br;q=0, gzip", "gzip")]
    [InlineData("gzip;q=0.5, br;q=0.9", "br")]
    [InlineData("gzip;q=1, br;q=0.4", "gzip")]
    public async Task ClientsWeights_ChooseTheCoding(string acceptEncoding, string expected)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/weights", Serve(Page, headers: [("Cache-Control", "max-age=600")]));
        await host.WaitUntilStoredAsync("/weights");

        using var hit = await host.GetAsync("/weights", Accept(acceptEncoding));

        Assert.Equal(expected, hit.Coding());
        Assert.Equal(Page, hit.Decoded());
    }

    [Theory]
    [InlineData("/small", "text/html", 100)]
    [InlineData("/image", "image/png", 5000)]
    [InlineData("/binary", "application/octet-stream", 5000)]
    public async Task SmallBodiesAndTypesNotWorthIt_AreSentAsIs(string path, string type, int length)
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map(path, Serve(Page[..length], type, ("Cache-Control", "max-age=600")));

        using var miss = await host.GetAsync(path, AcceptBrotliAndGzip);
        await host.WaitUntilStoredAsync(path);
        using var hit = await host.GetAsync(path, AcceptBrotliAndGzip);

        foreach (var response in new[] { miss, hit })
        {
            Assert.Null(response.Coding());
            Assert.Equal(Page[..length], response.Body());
            Assert.Empty(response.Headers.Vary);
        }
    }

    private static CompressionMetrics Metrics(CacheTestHost host) => host.Sidecar.Services.GetRequiredService<CompressionMetrics>();

    private static byte[] Gzip(string text)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return output.ToArray();
    }

    private static async Task<string> ReadUntilAsync(Stream body, string end)
    {
        var text = new StringBuilder();
        var buffer = new byte[1024];
        while (!text.ToString().EndsWith(end, StringComparison.Ordinal))
        {
            var read = await body.ReadAsync(buffer).AsTask().WaitAsync(Bound);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        return text.ToString();
    }
}
