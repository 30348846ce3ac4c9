using System.Net;
using System.Text;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Proxy;

/// <summary>
/// Header values are bytes: UTF-8 and Latin-1 (obs-text) bytes pass through byte for byte in both directions, over
/// HTTP/1.1 and HTTP/2, from the app and from the cache. The app is a bare socket, so
/// the exact bytes it writes and reads are known; clients read header values as Latin-1 (one byte, one char).
/// CR, LF and NUL never pass.
/// </summary>
public sealed class HeaderBytesTests
{
    /// <summary>Header lines as bytes, written as Latin-1 strings (each char is one byte).</summary>
    public static readonly TheoryData<string, string, string> ResponseHeaders = new()
    {
        { "1.1", "Content-Disposition", "attachment; filename=\"caf" + Latin1(0xC3, 0xA9) + ".txt\"" },
        { "1.1", "Content-Disposition", "attachment; filename=\"caf" + Latin1(0xE9) + ".txt\"" },
        { "1.1", "ETag", "\"" + Latin1(0x80) + "v1" + Latin1(0xFF) + "\"" },
        { "2.0", "Content-Disposition", "attachment; filename=\"caf" + Latin1(0xC3, 0xA9) + ".txt\"" },
        { "2.0", "Content-Disposition", "attachment; filename=\"caf" + Latin1(0xE9) + ".txt\"" },
        { "2.0", "ETag", "\"" + Latin1(0x80) + "v1" + Latin1(0xFF) + "\"" },
    };

    [Theory]
    [MemberData(nameof(ResponseHeaders))]
    public async Task ResponseHeader_NonAsciiBytes_ReachTheClientByteForByte(string version, string name, string value)
    {
        await using var app = RawUpstream.Start();
        app.Respond = _ => RawUpstream.Response(200, "ok", $"{name}: {value}", "Cache-Control: no-store");
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = app.Address.ToString() });
        using var client = Latin1Client(stack, version);

        using var response = await client.GetAsync(new Uri("/header", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(version), response.Version);
        Assert.Equal(Bytes(value), Bytes(HeaderValue(response, name)));
    }

    [Theory]
    [MemberData(nameof(ResponseHeaders))]
    public async Task ResponseHeader_NonAsciiBytes_CachedAndReplayedByteForByteOnAHit(string version, string name, string value)
    {
        await using var app = RawUpstream.Start();
        app.Respond = _ => RawUpstream.Response(200, "cached", $"{name}: {value}", "Cache-Control: public, max-age=600");
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = app.Address.ToString() });
        using var client = Latin1Client(stack, version);

        using var miss = await client.GetAsync(new Uri("/cached-header", UriKind.Relative));
        using var hit = await WaitForHitAsync(client, "/cached-header");

        Assert.True(Caching.Stores.SharedCacheCluster.IsHit(hit), Caching.Stores.SharedCacheCluster.CacheStatus(hit));
        Assert.Single(app.Received);
        Assert.Equal(Bytes(value), Bytes(HeaderValue(miss, name)));
        Assert.Equal(Bytes(value), Bytes(HeaderValue(hit, name)));
        Assert.Equal("cached", await hit.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0xA9 })]
    [InlineData(new byte[] { 0xE9 })]
    [InlineData(new byte[] { 0x80, 0xFF })]
    public async Task RequestHeader_NonAsciiBytes_Http11_ReachTheAppByteForByte(byte[] bytes)
    {
        await using var app = RawUpstream.Start();
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = app.Address.ToString() });
        var value = "name=" + Encoding.Latin1.GetString(bytes);

        var response = await RawHttps.SendBytesAsync(stack.Sidecar, Encoding.Latin1.GetBytes($"GET /request-header HTTP/1.1\r\nHost: localhost\r\nX-Name: {value}\r\nConnection: close\r\n\r\n"));

        Assert.StartsWith("HTTP/1.1 200", Encoding.Latin1.GetString(response), StringComparison.Ordinal);
        Assert.Equal(Bytes(value), Bytes(Assert.Single(Assert.Single(app.Received).Values("X-Name"))));
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0xA9 })]
    [InlineData(new byte[] { 0xE9 })]
    [InlineData(new byte[] { 0x80, 0xFF })]
    public async Task RequestHeader_NonAsciiBytes_Http2_ReachTheAppByteForByte(byte[] bytes)
    {
        await using var app = RawUpstream.Start();
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = app.Address.ToString() });
        var value = "name=" + Encoding.Latin1.GetString(bytes);
        await using var connection = await RawHttp2.ConnectAsync(stack.Sidecar.HttpsAddress.Port);

        await connection.SendAsync(RawHttp2.HeadersFrame(1, RawHttp2.Get("/request-header", "localhost", ("x-name", value)), endStream: true));
        var head = await connection.WaitForFrameAsync(f => f.Type == Http2Frame.Headers && f.StreamId == 1, TimeSpan.FromSeconds(10));

        Assert.Equal(200, head?.IndexedStatus);
        Assert.Equal(Bytes(value), Bytes(Assert.Single(Assert.Single(app.Received).Values("X-Name"))));
    }

    /// <summary>
    /// RFC 9110 §5.5: a recipient of CR, LF or NUL in a field value must reject the message or replace each with SP
    /// before forwarding. The upstream client replaces them; they never reach the client.
    /// </summary>
    [Theory]
    [InlineData("1.1", "a\0b")]
    [InlineData("1.1", "a\rb")]
    [InlineData("2.0", "a\0b")]
    [InlineData("2.0", "a\rb")]
    public async Task ResponseHeader_NulOrBareCr_NeverReachesTheClient(string version, string value)
    {
        await using var app = RawUpstream.Start();
        app.Respond = _ => RawUpstream.Response(200, "ok", $"X-Odd: {value}", "Cache-Control: no-store");
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = app.Address.ToString() });
        using var client = Latin1Client(stack, version);

        using var response = await client.GetAsync(new Uri("/odd-header", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("a b", HeaderValue(response, "X-Odd"));
    }

    private static string Latin1(params byte[] bytes) => Encoding.Latin1.GetString(bytes);

    private static byte[] Bytes(string latin1) => Encoding.Latin1.GetBytes(latin1);

    private static string HeaderValue(HttpResponseMessage response, string name) =>
        Assert.Single(response.Headers.TryGetValues(name, out var values) ? values : response.Content.Headers.GetValues(name));

    private static HttpClient Latin1Client(SidecarSetup stack, string version)
    {
        var handler = stack.Sidecar.CreateHandler();
        handler.ResponseHeaderEncodingSelector = (_, _) => Encoding.Latin1;
        return new HttpClient(handler)
        {
            BaseAddress = stack.Sidecar.HttpsAddress,
            DefaultRequestVersion = Version.Parse(version),
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
    }

    private static async Task<HttpResponseMessage> WaitForHitAsync(HttpClient client, string path)
    {
        // The entry is written after the first response completes; ask until it is served from the cache.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var response = await client.GetAsync(new Uri(path, UriKind.Relative));
            if (Caching.Stores.SharedCacheCluster.IsHit(response) || DateTime.UtcNow > deadline)
            {
                return response;
            }

            response.Dispose();
            await Task.Delay(20);
        }
    }
}
