using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>
/// What an app on a bare socket can send that a server framework would not: entity-tags holding obs-text bytes
/// (0x80-0xFF, allowed by RFC 9110 §8.8.3) and 1xx interim responses before the final one. Header values are read
/// and written as Latin-1 (one byte, one char), so the bytes compared are the bytes on the wire.
/// </summary>
public sealed class CacheRawAppTests
{
    private static readonly string ObsTextTag = "\"" + Latin1(0x80) + "v1" + Latin1(0xE9, 0xFF) + "\"";

    [Fact]
    public async Task ObsTextETag_IsReplayedByteForByte_AnsweredWith304_AndSentBackToTheAppUnchanged()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var app = RawUpstream.Start();
        app.Respond = request => request.Values("If-None-Match").Any()
            ? RawUpstream.Response(304, string.Empty, $"ETag: {ObsTextTag}", "Cache-Control: max-age=600", $"Date: {HttpDate(time)}")
            : RawUpstream.Response(200, "tagged", $"ETag: {ObsTextTag}", "Cache-Control: max-age=600", $"Date: {HttpDate(time)}");
        await using var stack = await StartAsync(app, time);
        using var client = Latin1Client(stack);

        using var miss = await client.GetAsync(new Uri("/tag", UriKind.Relative));
        using var hit = await WaitForHitAsync(client, "/tag");
        using var sameTag = await GetAsync(client, "/tag", ("If-None-Match", ObsTextTag));
        using var weakSameTag = await GetAsync(client, "/tag", ("If-None-Match", "\"x\", W/" + ObsTextTag));
        using var otherByte = await GetAsync(client, "/tag", ("If-None-Match", "\"" + Latin1(0x80) + "v1" + Latin1(0xE9, 0xFE) + "\""));
        var beforeRevalidation = app.Received.Count;
        time.Advance(TimeSpan.FromSeconds(700));
        using var revalidated = await client.GetAsync(new Uri("/tag", UriKind.Relative));

        Assert.Equal(Bytes(ObsTextTag), Bytes(Header(miss, "ETag")));
        Assert.Equal(Bytes(ObsTextTag), Bytes(Header(hit, "ETag")));
        Assert.Equal("tagged", await hit.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.NotModified, sameTag.StatusCode);
        Assert.True(Stores.SharedCacheCluster.IsHit(sameTag), Stores.SharedCacheCluster.CacheStatus(sameTag));
        Assert.Equal(Bytes(ObsTextTag), Bytes(Header(sameTag, "ETag")));
        Assert.Equal(HttpStatusCode.NotModified, weakSameTag.StatusCode);
        Assert.Equal(HttpStatusCode.OK, otherByte.StatusCode);
        Assert.Equal("tagged", await otherByte.Content.ReadAsStringAsync());
        Assert.Equal(1, beforeRevalidation);

        // Stale now: the cache asks the app with the stored validator, byte for byte, and serves the entry on its 304.
        Assert.Equal(2, app.Received.Count);
        var conditional = app.Received[1];
        Assert.Equal(Bytes(ObsTextTag), Bytes(Assert.Single(conditional.Values("If-None-Match"))));
        Assert.Equal(HttpStatusCode.OK, revalidated.StatusCode);
        Assert.Equal("tagged", await revalidated.Content.ReadAsStringAsync());
        Assert.Equal(Bytes(ObsTextTag), Bytes(Header(revalidated, "ETag")));
    }

    /// <summary>Interim responses the app writes before its final 200, as raw bytes.</summary>
    public static readonly TheoryData<string, string> InterimResponses = new()
    {
        { "early-hints", "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n" },
        { "two-early-hints", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload; as=script\r\nX-Interim: 1\r\n\r\n" },
        { "continue", "HTTP/1.1 100 Continue\r\n\r\n" },
        { "processing", "HTTP/1.1 102 Processing\r\nX-Interim: 1\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(InterimResponses))]
    public async Task InterimResponses_FromTheApp_DoNotReachTheClient_AndTheFinalResponseIsServedAndStored(string name, string interim)
    {
        var path = "/interim-" + name;
        await using var app = RawUpstream.Start();
        app.Respond = _ => [.. Encoding.ASCII.GetBytes(interim), .. RawUpstream.Response(200, "final body", "Cache-Control: max-age=600", "Content-Type: text/plain")];
        await using var stack = await StartAsync(app, new FakeTimeProvider(DateTimeOffset.UtcNow));

        // On the wire: the client's first status line is the final 200, with none of the interim fields.
        var raw = Encoding.Latin1.GetString(await RawHttps.SendBytesAsync(stack.Sidecar, Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {stack.Sidecar.HttpsAddress.Authority}\r\nConnection: close\r\n\r\n")));
        using var client = Latin1Client(stack);
        using var hit = await WaitForHitAsync(client, path);

        Assert.StartsWith("HTTP/1.1 200 ", raw, StringComparison.Ordinal);
        Assert.Equal(1, CountOf(raw, "HTTP/1.1 "));
        var head = raw[..raw.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        Assert.DoesNotContain("\r\nLink:", head, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("\r\nX-Interim:", head, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("\r\n\r\nfinal body", raw, StringComparison.Ordinal);

        // Stored as the final response alone: the hit has its body and none of the interim fields.
        Assert.True(Stores.SharedCacheCluster.IsHit(hit), Stores.SharedCacheCluster.CacheStatus(hit));
        Assert.Equal(HttpStatusCode.OK, hit.StatusCode);
        Assert.Equal("final body", await hit.Content.ReadAsStringAsync());
        Assert.False(hit.Headers.Contains("Link"));
        Assert.False(hit.Headers.Contains("X-Interim"));
        Assert.Single(app.Received);
    }

    [Fact]
    public async Task EarlyHints_FinalResponseWithItsOwnLink_KeepsOnlyItsOwn()
    {
        await using var app = RawUpstream.Start();
        app.Respond = _ =>
        [
            .. "HTTP/1.1 103 Early Hints\r\nLink: </hint.css>; rel=preload; as=style\r\n\r\n"u8.ToArray(),
            .. RawUpstream.Response(200, "final body", "Cache-Control: max-age=600", "Link: </final.css>; rel=stylesheet"),
        ];
        await using var stack = await StartAsync(app, new FakeTimeProvider(DateTimeOffset.UtcNow));
        using var client = Latin1Client(stack);

        using var miss = await client.GetAsync(new Uri("/interim-own-link", UriKind.Relative));
        using var hit = await WaitForHitAsync(client, "/interim-own-link");

        Assert.Equal("</final.css>; rel=stylesheet", Header(miss, "Link"));
        Assert.Equal("</final.css>; rel=stylesheet", Header(hit, "Link"));
        Assert.True(Stores.SharedCacheCluster.IsHit(hit), Stores.SharedCacheCluster.CacheStatus(hit));
    }

    private static async Task<SidecarSetup> StartAsync(RawUpstream app, FakeTimeProvider time) =>
        await SidecarSetup.StartAsync(
            new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = app.Address.ToString() },
            configureServices: services =>
            {
                services.RemoveAll<ProxySidecar.Caching.CacheClock>();
                services.AddSingleton(new ProxySidecar.Caching.CacheClock(time));
            });

    private static string HttpDate(TimeProvider time) => time.GetUtcNow().ToString("R", System.Globalization.CultureInfo.InvariantCulture);

    private static string Latin1(params byte[] bytes) => Encoding.Latin1.GetString(bytes);

    private static byte[] Bytes(string latin1) => Encoding.Latin1.GetBytes(latin1);

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static string Header(HttpResponseMessage response, string name) =>
        Assert.Single(response.Headers.TryGetValues(name, out var values) ? values : response.Content.Headers.GetValues(name));

    /// <summary>A client reading and writing header values as Latin-1, so obs-text bytes travel as they are.</summary>
    private static HttpClient Latin1Client(SidecarSetup stack)
    {
        var handler = stack.Sidecar.CreateHandler();
        handler.ResponseHeaderEncodingSelector = (_, _) => Encoding.Latin1;
        handler.RequestHeaderEncodingSelector = (_, _) => Encoding.Latin1;
        return new HttpClient(handler) { BaseAddress = stack.Sidecar.HttpsAddress };
    }

    private static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, (string Name, string Value) header)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        request.Headers.TryAddWithoutValidation(header.Name, header.Value);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static async Task<HttpResponseMessage> WaitForHitAsync(HttpClient client, string path)
    {
        // The entry is written after the first response completes; ask until it is served from the cache.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var response = await client.GetAsync(new Uri(path, UriKind.Relative));
            await response.Content.LoadIntoBufferAsync();
            if (Stores.SharedCacheCluster.IsHit(response) || DateTime.UtcNow > deadline)
            {
                return response;
            }

            response.Dispose();
            await Task.Delay(20);
        }
    }
}
