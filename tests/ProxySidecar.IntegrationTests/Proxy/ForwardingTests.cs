using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Proxy;

/// <summary>What the app receives is what the client sent: methods, targets, bodies and headers.</summary>
public sealed class ForwardingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    // The access log wraps the response body; streaming must survive it.
    private static readonly Dictionary<string, string?> AccessLogOn = new() { ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information" };

    [Theory]
    [InlineData("GET")]
    [InlineData("HEAD")]
    [InlineData("POST")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("PATCH")]
    [InlineData("OPTIONS")]
    [InlineData("PURGE")]
    [InlineData("FOO")]
    public async Task Forward_AnyMethod_ArrivesWithTheSameMethodAndBody(string method)
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), "/method-test");
        var hasBody = method is "POST" or "PUT" or "PATCH" or "PURGE" or "FOO";
        if (hasBody)
        {
            request.Content = new StringContent("body of " + method);
        }

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Equal(method, received.Method);
        Assert.Equal("/method-test", received.Path);
        Assert.Equal(hasBody ? "body of " + method : string.Empty, Encoding.UTF8.GetString(received.Body));
    }

    [Theory]
    [InlineData("/Mixed/CASE/path?Query=Value&query=value")]
    [InlineData("/a%2Fb/c%2fd?x=%2F&y=a%2Bb&z")]
    [InlineData("/caf%C3%A9/sp%20ace/plus+sign?q=%E2%9C%93&q=2&&empty=")]
    [InlineData("/%7Euser/%41BC/%2e%2E%2Fnot-a-dot-segment?a=%7e")]
    [InlineData("/semi;colon/at@sign/tilde~/excl!/$&'()*+,=?redirect=https://example.com/?a=b&c=%25")]
    public async Task Forward_RequestTarget_ArrivesByteForByte(string target)
    {
        await using var stack = await SidecarSetup.StartAsync();
        string? rawTarget = null;
        stack.Upstream.Fallback = context =>
        {
            rawTarget = context.Features.GetRequiredFeature<IHttpRequestFeature>().RawTarget;
            return Task.CompletedTask;
        };

        var response = await RawHttps.SendAsync(stack.Sidecar, $"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Equal(target, rawTarget);
    }

    [Fact]
    public async Task Forward_LargeBodyWithLength_ArrivesWhole()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient();
        var body = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);

        using var response = await client.PutAsync(new Uri("/upload", UriKind.Relative), new ByteArrayContent(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Equal(body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), received.Header("Content-Length"));
        Assert.True(body.AsSpan().SequenceEqual(received.Body), "The body the app received differs from the one sent.");
    }

    [Fact]
    public async Task Forward_ChunkedBody_ArrivesWholeAndChunked()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient();
        var body = RandomNumberGenerator.GetBytes(1024 * 1024 + 17);
        using var content = new StreamContent(new UnknownLengthStream(body));

        using var response = await client.PostAsync(new Uri("/chunked", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Null(received.Header("Content-Length"));
        Assert.Equal("chunked", received.Header("Transfer-Encoding"));
        Assert.True(body.AsSpan().SequenceEqual(received.Body), "The body the app received differs from the one sent.");
    }

    [Fact]
    public async Task Forward_ResponseBody_IsStreamedBeforeTheAppFinishes()
    {
        await using var stack = await SidecarSetup.StartAsync(AccessLogOn);
        var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stack.Upstream.Map("/stream", async context =>
        {
            await context.Response.WriteAsync("first;");
            await context.Response.Body.FlushAsync();
            await finish.Task.WaitAsync(Bound);
            await context.Response.WriteAsync("second");
        });
        using var client = stack.CreateClient();

        using var response = await client.GetAsync(new Uri("/stream", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead).WaitAsync(Bound);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64];
        var first = await body.ReadAsync(buffer).AsTask().WaitAsync(Bound);

        Assert.Equal("first;", Encoding.UTF8.GetString(buffer, 0, first));
        Assert.False(finish.Task.IsCompleted);
        finish.SetResult();
        using var reader = new StreamReader(body);
        Assert.Equal("second", await reader.ReadToEndAsync().WaitAsync(Bound));
    }

    [Fact]
    public async Task Forward_RequestBody_IsStreamedBeforeTheClientFinishes()
    {
        // The app is a raw listener that sees the first part of the body while the client still holds the rest.
        using var rig = SidecarRig.Create();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var sidecar = await SidecarHost.StartAsync(rig.Settings(new Uri($"http://127.0.0.1:{port}")), rig.TrustedCa);
        using var client = sidecar.CreateClient();
        var firstPartArrived = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = Task.Run(async () =>
        {
            while (true)
            {
                using var socket = await listener.AcceptSocketAsync().WaitAsync(Bound);
                await using var stream = new NetworkStream(socket);
                var seen = new StringBuilder();
                var buffer = new byte[4096];
                async Task<bool> ReadUntil(Func<bool> done)
                {
                    while (!done())
                    {
                        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound);
                        if (read == 0)
                        {
                            return false;
                        }

                        seen.Append(Encoding.ASCII.GetString(buffer, 0, read));
                    }

                    return true;
                }

                // Connections that are not the request (the readiness probe's TCP connect) close at once.
                if (!await ReadUntil(() => seen.Length >= 128 * 1024))
                {
                    continue;
                }

                firstPartArrived.SetResult(seen.ToString());
                await ReadUntil(() => seen.ToString().EndsWith("0\r\n\r\n", StringComparison.Ordinal));
                await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"));
                return seen.ToString();
            }
        });
        var seenBeforeTheRest = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var content = new TwoPartContent(new string('a', 256 * 1024), "part-two", firstPartArrived.Task, seenBeforeTheRest);

        using var response = await client.PostAsync(new Uri("/upload-stream", UriKind.Relative), content).WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("part-two", await seenBeforeTheRest.Task, StringComparison.Ordinal);
        Assert.Contains("part-two", await app.WaitAsync(Bound), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forward_EndToEndHeaders_PassUnchangedBothWays()
    {
        await using var stack = await SidecarSetup.StartAsync();
        stack.Upstream.Map("/headers", context =>
        {
            context.Response.Headers["X-App"] = "from the app";
            context.Response.Headers.Append("Set-Cookie", "a=1; Path=/");
            context.Response.Headers.Append("Set-Cookie", "b=2; Path=/; HttpOnly");
            context.Response.Headers.CacheControl = "public, max-age=60";
            context.Response.Headers.ETag = "\"v1\"";
            context.Response.Headers["Link"] = "</style.css>; rel=preload";
            return context.Response.WriteAsync("ok");
        });
        using var client = stack.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/headers");
        request.Headers.TryAddWithoutValidation("X-Custom", "Value With  Spaces");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer abc.def");
        request.Headers.TryAddWithoutValidation("Cookie", "session=42; theme=dark");
        request.Headers.TryAddWithoutValidation("Accept-Language", "de-CH, en;q=0.5");
        request.Headers.TryAddWithoutValidation("If-None-Match", "\"v0\"");
        request.Headers.TryAddWithoutValidation("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Equal("Value With  Spaces", received.Header("X-Custom"));
        Assert.Equal("Bearer abc.def", received.Header("Authorization"));
        Assert.Equal("session=42; theme=dark", received.Header("Cookie"));
        Assert.Equal("de-CH, en;q=0.5", received.Header("Accept-Language"));
        Assert.Equal("\"v0\"", received.Header("If-None-Match"));
        Assert.Equal("from the app", Assert.Single(response.Headers.GetValues("X-App")));
        Assert.Equal(["a=1; Path=/", "b=2; Path=/; HttpOnly"], response.Headers.GetValues("Set-Cookie"));
        Assert.Equal("public, max-age=60", response.Headers.CacheControl!.ToString());
        Assert.Equal("\"v1\"", response.Headers.ETag!.ToString());
        Assert.Equal("</style.css>; rel=preload", Assert.Single(response.Headers.GetValues("Link")));
    }

    [Fact]
    public async Task Forward_HopByHopHeaders_AreRemovedBothWays()
    {
        await using var stack = await SidecarSetup.StartAsync();
        stack.Upstream.Map("/hop", async context =>
        {
            context.Response.Headers.Connection = "X-Response-Hop";
            context.Response.Headers["X-Response-Hop"] = "only for the sidecar";
            context.Response.Headers["Keep-Alive"] = "timeout=5";
            context.Response.Headers["Proxy-Authenticate"] = "Basic realm=app";
            context.Response.Headers["X-End-To-End"] = "kept";
            await context.Response.WriteAsync("ok");
        });
        using var client = stack.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/hop");
        request.Headers.Connection.Add("X-Request-Hop");
        request.Headers.TryAddWithoutValidation("X-Request-Hop", "only for the sidecar");
        request.Headers.TryAddWithoutValidation("Keep-Alive", "timeout=5");
        request.Headers.TryAddWithoutValidation("Proxy-Authorization", "Basic c2VjcmV0");
        request.Headers.TryAddWithoutValidation("Proxy-Connection", "keep-alive");
        request.Headers.TryAddWithoutValidation("X-End-To-End", "kept");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Null(received.Header("X-Request-Hop"));
        Assert.Null(received.Header("Keep-Alive"));
        Assert.Null(received.Header("Proxy-Authorization"));
        Assert.Null(received.Header("Proxy-Connection"));
        Assert.DoesNotContain("X-Request-Hop", received.Header("Connection") ?? string.Empty, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("kept", received.Header("X-End-To-End"));
        Assert.False(response.Headers.Contains("X-Response-Hop"));
        Assert.False(response.Headers.Contains("Keep-Alive"));
        Assert.False(response.Headers.Contains("Proxy-Authenticate"));
        Assert.DoesNotContain(response.Headers.Connection, c => c.Equals("X-Response-Hop", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("kept", Assert.Single(response.Headers.GetValues("X-End-To-End")));
    }

    [Fact]
    public async Task Forward_ClientSentForwardingHeaders_AreReplacedOrRemoved()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/who");
        request.Headers.Host = "localhost:4433";
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", "6.6.6.6");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "http");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil.example.com");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Port", "1");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Prefix", "/evil");
        request.Headers.TryAddWithoutValidation("Forwarded", "for=6.6.6.6;proto=http;host=evil.example.com");
        request.Headers.TryAddWithoutValidation("X-Real-IP", "6.6.6.6");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Client-Cert", "Hash=forged");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Equal("127.0.0.1", received.Header("X-Forwarded-For"));
        Assert.Equal("https", received.Header("X-Forwarded-Proto"));
        Assert.Equal("localhost:4433", received.Header("X-Forwarded-Host"));
        Assert.Equal("localhost:4433", received.Header("Host"));
        Assert.Null(received.Header("X-Forwarded-Port"));
        Assert.Null(received.Header("X-Forwarded-Prefix"));
        Assert.Null(received.Header("Forwarded"));
        Assert.Null(received.Header("X-Real-IP"));
        Assert.Null(received.Header("X-Forwarded-Client-Cert"));
    }

    [Fact]
    public async Task Forward_NoClientForwardingHeaders_SidecarSetsThemAndKeepsHostWithPort()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient();

        using var response = await client.GetAsync(new Uri("/who", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(stack.Upstream.Received);
        var clientHost = $"127.0.0.1:{stack.Sidecar.HttpsAddress.Port}";
        Assert.Equal(clientHost, received.Header("Host"));
        Assert.Equal(clientHost, received.Header("X-Forwarded-Host"));
        Assert.Equal("127.0.0.1", received.Header("X-Forwarded-For"));
        Assert.Equal("https", received.Header("X-Forwarded-Proto"));
    }

    [Fact]
    public async Task Alpn_ClientOffersH2_NegotiatesHttp2()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient(HttpVersion.Version20);

        using var response = await client.GetAsync(new Uri("/h2", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("upstream:/h2", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Alpn_ClientOffersOnlyHttp11_StillServed()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient(HttpVersion.Version11);

        using var response = await client.GetAsync(new Uri("/h1", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version11, response.Version);
    }

    [Fact]
    public async Task Alpn_ServerSelectsH2WhenOffered()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, stack.Sidecar.HttpsAddress.Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => SidecarHost.ValidateAgainst(stack.TrustedCa, certificate, errors),
        });

        Assert.Equal(SslApplicationProtocol.Http2, tls.NegotiatedApplicationProtocol);
    }

    /// <summary>Sends the first part, flushes, waits until the app has seen it, then sends the second.</summary>
    private sealed class TwoPartContent(string first, string second, Task<string> firstSeen, TaskCompletionSource<string> seenBeforeSecond) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(first));
            await stream.FlushAsync();
            seenBeforeSecond.SetResult(await firstSeen.WaitAsync(Bound));
            await stream.WriteAsync(Encoding.ASCII.GetBytes(second));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    private sealed class UnknownLengthStream(byte[] data) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Math.Min(Math.Min(count, 8192), data.Length - _position);
            Array.Copy(data, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
