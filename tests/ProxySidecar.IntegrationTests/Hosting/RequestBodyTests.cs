using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>
/// Large, malformed and slow request bodies: a body over the limit is 413 (before anything reaches the app when its
/// length is declared); with request buffering on, the app sees nothing of a request until its body is complete and
/// valid. The app is a bare socket that counts request heads as they arrive.
/// </summary>
public sealed class RequestBodyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    /// <summary>Chunked framings Kestrel refuses (bad chunk sizes and bad chunk ends).</summary>
    public static readonly TheoryData<string> BadChunkedBodies = new()
    {
        "zz\r\nabc\r\n0\r\n\r\n",
        "-1\r\nabc\r\n0\r\n\r\n",
        "3 \r\nabc\r\n0\r\n\r\n",
        "0x3\r\nabc\r\n0\r\n\r\n",
        "ffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        "3\r\nabcdef\r\n0\r\n\r\n",
        "3\nabc\n0\n\n",
    };

    private static readonly Dictionary<string, string?> Buffering = new() { ["Sidecar:Hosting:RequestBuffering:Enabled"] = "true" };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DeclaredBodyOverTheLimit_413AndNothingForwarded(bool buffering)
    {
        var (stack, app) = await StartAsync(new() { ["Sidecar:Hosting:MaxRequestBodyBytes"] = "1000", ["Sidecar:Hosting:RequestBuffering:Enabled"] = buffering ? "true" : "false" });
        await using var _ = stack;
        await using var __ = app;

        var response = await RawHttps.SendAsync(stack.Sidecar, "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 31000000\r\n\r\nabc");

        Assert.StartsWith("HTTP/1.1 413", response, StringComparison.Ordinal);
        Assert.Equal(0, app.Heads);
    }

    [Fact]
    public async Task ChunkedBodyOverTheLimit_Unbuffered_413()
    {
        var (stack, app) = await StartAsync(new() { ["Sidecar:Hosting:MaxRequestBodyBytes"] = "1000" });
        await using var _ = stack;
        await using var __ = app;

        var response = await RawHttps.SendAsync(stack.Sidecar, $"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n{new string('a', 2000)}\r\n0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 413", response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChunkedBodyOverTheLimit_Buffered_413AndNothingForwarded()
    {
        var (stack, app) = await StartAsync(new(Buffering) { ["Sidecar:Hosting:RequestBuffering:MaxBytes"] = "1000" });
        await using var _ = stack;
        await using var __ = app;

        var response = await RawHttps.SendAsync(stack.Sidecar, $"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n{new string('a', 2000)}\r\n0\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 413", response, StringComparison.Ordinal);
        Assert.Equal(0, app.Heads);
    }

    [Theory]
    [MemberData(nameof(BadChunkedBodies))]
    public async Task BadChunkedBody_Buffered_400AndNothingForwarded(string body)
    {
        var (stack, app) = await StartAsync(new(Buffering));
        await using var _ = stack;
        await using var __ = app;

        var response = await RawHttps.SendAsync(stack.Sidecar, "POST /chunks HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body);

        Assert.StartsWith("HTTP/1.1 400", response, StringComparison.Ordinal);
        Assert.Equal(0, app.Heads);
    }

    [Fact]
    public async Task SlowBody_Buffered_NothingForwardedUntilComplete_ThenWithContentLength()
    {
        var (stack, app) = await StartAsync(new(Buffering));
        await using var _ = stack;
        await using var __ = app;
        await using var slow = await OpenAsync(stack.Sidecar.HttpsAddress.Port);
        await slow.WriteAsync(Encoding.ASCII.GetBytes("POST /slow HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n"));
        await slow.FlushAsync();

        // A complete request sent after the slow one's head: once it has reached the app, the slow head would have too.
        var marker = await RawHttps.SendAsync(stack.Sidecar, "GET /marker HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        var before = app.Received.Select(r => r.Target).ToList();

        await slow.WriteAsync(Encoding.ASCII.GetBytes("7\r\n second\r\n0\r\n\r\n"));
        await slow.FlushAsync();
        var response = await ReadHeadAsync(slow);

        Assert.StartsWith("HTTP/1.1 200", marker, StringComparison.Ordinal);
        Assert.Equal(["/marker"], before);
        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        var forwarded = Assert.Single(app.Received, r => r.Target == "/slow");
        Assert.Equal("first second", Encoding.ASCII.GetString(forwarded.Body));
        Assert.Equal(["12"], forwarded.Values("Content-Length"));
        Assert.Empty(forwarded.Values("Transfer-Encoding"));
    }

    [Fact]
    public async Task BodyCutOff_Buffered_NothingForwarded()
    {
        var (stack, app) = await StartAsync(new(Buffering));
        await using var _ = stack;
        await using var __ = app;

        await using (var cut = await OpenAsync(stack.Sidecar.HttpsAddress.Port))
        {
            await cut.WriteAsync(Encoding.ASCII.GetBytes("POST /cut HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nonly part of it"));
            await cut.FlushAsync();
            Assert.StartsWith("HTTP/1.1 200", await RawHttps.SendAsync(stack.Sidecar, "GET /while-open HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), StringComparison.Ordinal);
        }

        var after = await RawHttps.SendAsync(stack.Sidecar, "GET /after-cut HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", after, StringComparison.Ordinal);
        Assert.Equal(["/while-open", "/after-cut"], app.Received.Select(r => r.Target));
        Assert.Equal(2, app.Heads);
    }

    [Fact]
    public async Task Http2BodyWithoutLength_Buffered_ArrivesWithContentLength()
    {
        var (stack, app) = await StartAsync(new(Buffering));
        await using var _ = stack;
        await using var __ = app;
        using var client = stack.CreateClient(HttpVersion.Version20);
        using var content = new UnknownLengthContent(Encoding.ASCII.GetBytes("over http/2"));

        using var response = await client.PostAsync(new Uri("/h2-upload", UriKind.Relative), content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var forwarded = Assert.Single(app.Received);
        Assert.Equal("over http/2", Encoding.ASCII.GetString(forwarded.Body));
        Assert.Equal(["11"], forwarded.Values("Content-Length"));
    }

    [Fact]
    public async Task BufferBudgetUsedUp_503WithRetryAfter_NothingForwarded()
    {
        // Room for two 16 KiB segments in all: one request holding both leaves none for another.
        var (stack, app) = await StartAsync(new(Buffering) { ["Sidecar:Hosting:RequestBuffering:MaxBytes"] = "32768", ["Sidecar:Hosting:RequestBuffering:MaxTotalBytes"] = "32768" });
        await using var _ = stack;
        await using var __ = app;
        await using var holder = await OpenAsync(stack.Sidecar.HttpsAddress.Port);
        await holder.WriteAsync(Encoding.ASCII.GetBytes("POST /holder HTTP/1.1\r\nHost: localhost\r\nContent-Length: 30000\r\n\r\n" + new string('h', 20000)));
        await holder.FlushAsync();
        await stack.Sidecar.WaitForStatusAsync(s => s["requestBuffering"]?["heldBytes"]?.GetValue<long>() == 32768, because: "the first body holds the whole budget");

        var refused = await RawHttps.SendAsync(stack.Sidecar, "POST /refused HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
        var status = await stack.Sidecar.GetStatusAsync();

        Assert.StartsWith("HTTP/1.1 503", refused, StringComparison.Ordinal);
        Assert.Contains("Retry-After: 1", refused, StringComparison.Ordinal);
        Assert.Equal(1, status["requestBuffering"]?["refused"]?.GetValue<long>());
        Assert.Equal(0, app.Heads);
    }

    private static async Task<(SidecarSetup Stack, RawUpstream App)> StartAsync(Dictionary<string, string?> settings)
    {
        var app = RawUpstream.Start();
        settings["Sidecar:Upstream:Address"] = app.Address.ToString();
        return (await SidecarSetup.StartAsync(settings), app);
    }

    private static async Task<SslStream> OpenAsync(int port)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });
        return tls;
    }

    /// <summary>A body whose length is not declared: sent as DATA frames with no content-length.</summary>
    private sealed class UnknownLengthContent(byte[] bytes) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    /// <summary>Reads until the end of a response head.</summary>
    private static async Task<string> ReadHeadAsync(Stream stream)
    {
        using var cancel = new CancellationTokenSource(Bound);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer, cancel.Token);
            if (read == 0)
            {
                break;
            }

            received.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }

        return received.ToString();
    }
}
