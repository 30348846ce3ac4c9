using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Proxy;

/// <summary>WebSockets and gRPC-shaped HTTP/2 traffic pass through the sidecar.</summary>
public sealed class UpgradeAndGrpcTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task WebSocket_OverWss_EchoesThroughTheSidecar()
    {
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information" });
        stack.Upstream.Map("/ws", async context =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                    return;
                }

                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
            }
        });
        using var invoker = new HttpMessageInvoker(stack.Sidecar.CreateHandler());
        using var client = new ClientWebSocket();
        using var cancel = new CancellationTokenSource(Bound);
        var uri = new Uri($"wss://127.0.0.1:{stack.Sidecar.HttpsAddress.Port}/ws");

        await client.ConnectAsync(uri, invoker, cancel.Token);
        await client.SendAsync(Encoding.UTF8.GetBytes("hello through the sidecar"), WebSocketMessageType.Text, true, cancel.Token);
        var buffer = new byte[1024];
        var result = await client.ReceiveAsync(buffer, cancel.Token);
        await client.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", cancel.Token);

        Assert.Equal("hello through the sidecar", Encoding.UTF8.GetString(buffer, 0, result.Count));
        Assert.Equal(WebSocketState.Closed, client.State);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Equal("/ws", received.Path);
    }

    [Fact]
    public async Task Grpc_Http2ToH2cApp_BodyAndTrailersArrive()
    {
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?>
            {
                ["Sidecar:Upstream:Protocol"] = "Http2",
                ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information",
            },
            http2Upstream: true);
        stack.Upstream.Map("/greet.Greeter/SayHello", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(body.ToArray());
            context.Response.AppendTrailer("grpc-status", "0");
            context.Response.AppendTrailer("grpc-message", "ok");
        });
        using var client = stack.CreateClient(HttpVersion.Version20);
        var frame = new byte[] { 0, 0, 0, 0, 5, (byte)'h', (byte)'e', (byte)'l', (byte)'l', (byte)'o' };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/greet.Greeter/SayHello")
        {
            Content = new ByteArrayContent(frame),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.Add(new TransferCodingWithQualityHeaderValue("trailers"));

        using var response = await client.SendAsync(request).WaitAsync(Bound);
        var echoed = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(frame, echoed);
        Assert.Equal("0", Assert.Single(response.TrailingHeaders.GetValues("grpc-status")));
        Assert.Equal("ok", Assert.Single(response.TrailingHeaders.GetValues("grpc-message")));
        var received = Assert.Single(stack.Upstream.Received);
        Assert.Equal("HTTP/2", received.Protocol);
        Assert.Equal("trailers", received.Header("TE"));
    }
}

public sealed class H2cProbeTests
{
    [Fact]
    public async Task Readiness_H2cAppWithProbePath_ProbedOverHttp2AndReady()
    {
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?>
            {
                ["Sidecar:Upstream:Protocol"] = "Http2",
                ["Sidecar:Upstream:ProbePath"] = "/healthz",
                ["Sidecar:Upstream:ProbeInterval"] = "00:00:00.2",
            },
            http2Upstream: true);

        await stack.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);

        Assert.Contains(stack.Upstream.Received, r => r.Path == "/healthz" && r.Protocol == "HTTP/2");
    }
}
