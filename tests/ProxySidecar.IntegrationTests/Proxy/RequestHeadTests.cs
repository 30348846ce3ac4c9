using System.Net;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Proxy;

/// <summary>
/// Request heads the app must not see as sent: an invalid Host, header names with an underscore. The app here is a
/// bare socket that records heads byte for byte (a server framework would itself reject a doubled Host header).
/// </summary>
public sealed class RequestHeadTests
{
    private static async Task<(SidecarSetup Stack, RawUpstream App)> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var app = RawUpstream.Start();
        settings ??= [];
        settings["Sidecar:Upstream:Address"] = app.Address.ToString();
        return (await SidecarSetup.StartAsync(settings), app);
    }

    [Theory]
    [InlineData("localhost:99999")]
    [InlineData("localhost:65536")]
    [InlineData("[::1]:123456")]
    public async Task Host_PortOutOfRange_Http11_400AndNothingForwarded(string host)
    {
        var (stack, app) = await StartAsync();
        await using var _ = stack;
        await using var __ = app;

        var response = await RawHttps.SendAsync(stack.Sidecar, $"GET /bad-host HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 400", response, StringComparison.Ordinal);
        Assert.Equal(0, app.Heads);
    }

    [Fact]
    public async Task Authority_PortOutOfRange_Http2_400AndNothingForwarded()
    {
        var (stack, app) = await StartAsync();
        await using var _ = stack;
        await using var __ = app;
        await using var connection = await RawHttp2.ConnectAsync(stack.Sidecar.HttpsAddress.Port);

        await connection.SendAsync(RawHttp2.HeadersFrame(1, RawHttp2.Get("/bad-host", "localhost:99999"), endStream: true));
        var head = await connection.WaitForFrameAsync(f => f.Type == Http2Frame.Headers && f.StreamId == 1, TimeSpan.FromSeconds(10));

        Assert.NotNull(head);
        Assert.Equal(400, head.IndexedStatus);
        Assert.Equal(0, app.Heads);
    }

    [Fact]
    public async Task Authority_Valid_Http2_ForwardedWithOneHost()
    {
        var (stack, app) = await StartAsync();
        await using var _ = stack;
        await using var __ = app;
        await using var connection = await RawHttp2.ConnectAsync(stack.Sidecar.HttpsAddress.Port);

        await connection.SendAsync(RawHttp2.HeadersFrame(1, RawHttp2.Get("/good-host", "localhost:8443"), endStream: true));
        var head = await connection.WaitForFrameAsync(f => f.Type == Http2Frame.Headers && f.StreamId == 1, TimeSpan.FromSeconds(10));

        Assert.NotNull(head);
        Assert.Equal(200, head.IndexedStatus);
        Assert.Equal(["localhost:8443"], Assert.Single(app.Received).Values("Host"));
    }

    [Theory]
    [InlineData("localhost:8443")]
    [InlineData("localhost:65535")]
    [InlineData("127.0.0.1")]
    [InlineData("[::1]:8443")]
    public async Task Host_Valid_ForwardedAsSentWithOneHost(string host)
    {
        var (stack, app) = await StartAsync();
        await using var _ = stack;
        await using var __ = app;

        var response = await RawHttps.SendAsync(stack.Sidecar, $"GET /good-host HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200", response, StringComparison.Ordinal);
        Assert.Equal([host], Assert.Single(app.Received).Values("Host"));
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task UnderscoreHeaderName_DroppedByDefault(string version)
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient(Version.Parse(version));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/underscore") { Version = Version.Parse(version), VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        request.Headers.TryAddWithoutValidation("Transfer_Encoding", "chunked");
        request.Headers.TryAddWithoutValidation("X_Forwarded_For", "10.9.9.9");
        request.Headers.TryAddWithoutValidation("X-Kept", "yes");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(version), response.Version);
        var received = Assert.Single(stack.Upstream.Received);
        Assert.DoesNotContain(received.Headers.Keys, name => name.Contains('_', StringComparison.Ordinal));
        Assert.Equal("yes", received.Header("X-Kept"));
    }

    [Fact]
    public async Task UnderscoreHeaderName_AllowedBySetting_Forwarded()
    {
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Hosting:AllowUnderscoresInHeaders"] = "true" });
        using var client = stack.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/underscore");
        request.Headers.TryAddWithoutValidation("X_Custom", "kept");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("kept", Assert.Single(stack.Upstream.Received).Header("X_Custom"));
    }
}
