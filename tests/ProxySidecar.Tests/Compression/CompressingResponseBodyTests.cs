using System.IO.Compression;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ProxySidecar.Compression;

namespace ProxySidecar.Tests.Compression;

public sealed class CompressingResponseBodyTests
{
    private static readonly string Page = string.Concat(Enumerable.Repeat("<p>The same paragraph, again and again.</p>\n", 200));

    private sealed class Harness
    {
        public Harness(string acceptEncoding = "br, gzip", bool credentials = false, CompressionOptions? options = null, List<(string, ContentCoding)>? mapped = null)
        {
            Context.Request.Method = "GET";
            Context.Request.Headers.AcceptEncoding = acceptEncoding;
            var policy = new CompressionPolicy(options ?? new CompressionOptions());
            Feature = new CompressionFeature(policy, policy.Default, Compressibility.Accepted(Context.Request), credentials, mapped);
            Context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(Output));
            Body = new CompressingResponseBody(Context.Features.GetRequiredFeature<IHttpResponseBodyFeature>(), Context, Feature, Metrics);
        }

        public DefaultHttpContext Context { get; } = new();

        public MemoryStream Output { get; } = new();

        public CompressionFeature Feature { get; }

        public CompressionMetrics Metrics { get; } = CompressionTestSupport.NewMetrics();

        public CompressingResponseBody Body { get; }

        public IHeaderDictionary Headers => Context.Response.Headers;

        public async Task WriteAsync(string text, int status = 200, string type = "text/html; charset=utf-8", long? length = null)
        {
            Context.Response.StatusCode = status;
            Context.Response.ContentType = type;
            Context.Response.ContentLength = length;
            await Body.WriteAsync(Encoding.UTF8.GetBytes(text));
            await Body.FinishAsync();
        }

        public string Decoded() => Decode(Output.ToArray(), Context.Response.Headers.ContentEncoding.ToString());
    }

    private static string Decode(byte[] bytes, string coding)
    {
        using Stream decoder = coding switch
        {
            "br" => new BrotliStream(new MemoryStream(bytes), CompressionMode.Decompress),
            "gzip" => new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress),
            _ => new MemoryStream(bytes),
        };
        using var reader = new StreamReader(decoder, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [Theory]
    [InlineData("br, gzip", "br")]
    [InlineData("gzip", "gzip")]
    public async Task ListedType_IsEncoded_AndTheHeadersDescribeTheEncodedBytes(string acceptEncoding, string coding)
    {
        var harness = new Harness(acceptEncoding);
        harness.Headers.ETag = "\"v1\"";
        harness.Headers.AcceptRanges = "bytes";
        harness.Headers["Repr-Digest"] = "sha-256=:x:";

        await harness.WriteAsync(Page, length: Encoding.UTF8.GetByteCount(Page));

        Assert.Equal(coding, harness.Headers.ContentEncoding.ToString());
        Assert.Equal("Accept-Encoding", harness.Headers.Vary.ToString());
        Assert.Equal($"\"v1-{coding}\"", harness.Headers.ETag.ToString());
        Assert.Null(harness.Context.Response.ContentLength);
        Assert.False(harness.Headers.ContainsKey("Accept-Ranges"));
        Assert.False(harness.Headers.ContainsKey("Repr-Digest"));
        Assert.True(harness.Output.Length < Page.Length / 4);
        Assert.Equal(Page, harness.Decoded());
        Assert.Equal(1, harness.Metrics.StreamedEncodes);
    }

    [Fact]
    public async Task EveryFlush_ReachesTheClient()
    {
        var harness = new Harness();
        harness.Context.Response.ContentType = "application/json";
        await harness.Body.WriteAsync(Encoding.UTF8.GetBytes("{\"first\":true}"));
        await harness.Body.FlushAsync();
        var afterFlush = harness.Output.ToArray();

        Assert.Equal("br", harness.Headers.ContentEncoding.ToString());
        using var decoder = new BrotliStream(new MemoryStream(afterFlush), CompressionMode.Decompress);
        var buffer = new byte[64];
        var read = decoder.Read(buffer);
        Assert.Equal("{\"first\":true}", Encoding.UTF8.GetString(buffer, 0, read));
    }

    [Theory]
    [InlineData("identity;q=1, *;q=0")]
    [InlineData("")]
    [InlineData("deflate")]
    public async Task ClientAcceptsNoCoding_IsSentAsIs_WithVary(string acceptEncoding)
    {
        var harness = new Harness(acceptEncoding);

        await harness.WriteAsync(Page);

        Assert.False(harness.Headers.ContainsKey("Content-Encoding"));
        Assert.Equal("Accept-Encoding", harness.Headers.Vary.ToString());
        Assert.Equal(Page, harness.Decoded());
    }

    [Fact]
    public async Task Credentials_AreNotCompressed_UnlessTheRuleSaysSo()
    {
        var plain = new Harness(credentials: true);
        await plain.WriteAsync(Page);
        var options = new CompressionOptions { CompressWithCredentials = true };
        var allowed = new Harness(credentials: true, options: options);
        await allowed.WriteAsync(Page);

        Assert.False(plain.Headers.ContainsKey("Content-Encoding"));
        Assert.Equal("Accept-Encoding", plain.Headers.Vary.ToString());
        Assert.Equal("br", allowed.Headers.ContentEncoding.ToString());
    }

    [Fact]
    public async Task AppsOwnContentEncoding_IsLeftAlone()
    {
        var harness = new Harness();
        harness.Headers.ContentEncoding = "gzip";

        await harness.WriteAsync(Page);

        Assert.Equal("gzip", harness.Headers.ContentEncoding.ToString());
        Assert.False(harness.Headers.ContainsKey("Vary"));
        Assert.Equal(Encoding.UTF8.GetBytes(Page), harness.Output.ToArray());
    }

    [Fact]
    public async Task AnsweredByTheCache_PassesThroughUntouched()
    {
        var harness = new Harness();
        harness.Feature.MarkAnsweredByCache();

        await harness.WriteAsync(Page);

        Assert.False(harness.Headers.ContainsKey("Content-Encoding"));
        Assert.False(harness.Headers.ContainsKey("Vary"));
        Assert.Equal(0, harness.Metrics.StreamedEncodes);
    }

    [Fact]
    public async Task NothingWritten_IsNeverEncoded()
    {
        var harness = new Harness();
        harness.Context.Response.ContentType = "text/html";

        await harness.Body.FinishAsync();

        Assert.False(harness.Headers.ContainsKey("Content-Encoding"));
        Assert.Equal(0, harness.Output.Length);
    }

    [Fact]
    public async Task NotModified_ToAClientValidatorOfACompressedRepresentation_NamesThatRepresentation()
    {
        var harness = new Harness(mapped: [("\"v1\"", ContentCoding.Gzip)]);
        harness.Context.Response.StatusCode = 304;
        harness.Headers.ETag = "\"v1\"";

        await harness.Body.FinishAsync();

        Assert.Equal("\"v1-gzip\"", harness.Headers.ETag.ToString());
    }
}
