using System.Text;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>The two sidecars the corpus runs against (default, and with request buffering), in front of one bare-socket app.</summary>
public sealed class MalformedRequestFixture : IAsyncLifetime
{
    public RawUpstream App { get; } = RawUpstream.Start();

    public SidecarSetup Streaming { get; private set; } = null!;

    public SidecarSetup Buffering { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The app says what it saw, so that a response given to the wrong request would show; and it frames bodies
        // as a CGI-style server would, taking Transfer_Encoding for Transfer-Encoding.
        App.Respond = request => RawUpstream.Response(200, "app saw " + request.Target);
        App.UnderscoreIsHyphen = true;
        Streaming = await SidecarSetup.StartAsync(new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = App.Address.ToString() });
        Buffering = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Upstream:Address"] = App.Address.ToString(),
            ["Sidecar:Hosting:RequestBuffering:Enabled"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Streaming.DisposeAsync();
        await Buffering.DisposeAsync();
        await App.DisposeAsync();
    }
}

/// <summary>
/// A corpus of malformed and ambiguous HTTP/1.1 requests (request smuggling shapes: CL.TE, TE.CL, TE.TE with obfuscated
/// Transfer-Encoding, duplicate or malformed Content-Length; bad chunking; bad header lines), each carrying a second
/// request for /smuggled. Whatever the sidecar answers, the app sees /smuggled only if the sidecar took it for a second
/// request of the same client and answered it to that client (plain pipelining), never gets a request with both
/// framings, and the next ordinary request still gets its own answer.
/// </summary>
public sealed class MalformedRequestTests(MalformedRequestFixture fixture) : IClassFixture<MalformedRequestFixture>
{
    private const string Smuggled = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";

    /// <summary>The smuggled request's length, in decimal and in hex (a Content-Length or chunk size that frames it exactly).</summary>
    private static readonly string N = Smuggled.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static readonly string X = Smuggled.Length.ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    public static readonly TheoryData<string, string> Corpus = new()
    {
        { "CL.TE", "POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE.CL", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + X + "\r\n" + Smuggled + "\r\n0\r\n\r\n" },
        { "TE.TE duplicate", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE chunked not last", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE xchunked", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE with tab", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:\tchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE space before colon", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE underscore", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer_Encoding: chunked\r\nContent-Length: " + (Smuggled.Length + 5) + "\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE obs-fold", "POST /a HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + Smuggled },
        { "TE in HTTP/1.0", "POST /a HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + Smuggled },
        { "two Content-Lengths", "POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nContent-Length: " + N + "\r\n\r\n" + Smuggled },
        { "Content-Length list", "POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0, " + N + "\r\n\r\n" + Smuggled },
        { "Content-Length with sign", "POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: +" + N + "\r\n\r\n" + Smuggled },
        { "Content-Length in hex", "POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0x" + X + "\r\n\r\n" + Smuggled },
        { "Content-Length overflow", "POST /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 18446744073709551660\r\n\r\n" + Smuggled },
        { "chunk size overflow", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff" + X + "\r\n" + Smuggled + "\r\n0\r\n\r\n" },
        { "chunk size with sign", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n-" + X + "\r\n" + Smuggled + "\r\n0\r\n\r\n" },
        { "chunk size 0x prefix", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0x" + X + "\r\n" + Smuggled + "\r\n0\r\n\r\n" },
        { "chunk longer than its size", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n" + Smuggled },
        { "chunk with bare LF", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + X + "\n" + Smuggled + "\n0\n\n" },
        { "chunk extension with CR", "POST /a HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0;x=\r0\r\n\r\n" + Smuggled },
        { "bare LF header lines", "POST /a HTTP/1.1\nHost: localhost\nContent-Length: 0\nTransfer-Encoding: chunked\n\n0\n\n" + Smuggled },
        { "bare CR in header", "GET /a HTTP/1.1\r\nHost: localhost\r\nX-A: b\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + Smuggled },
        { "NUL in header", "GET /a HTTP/1.1\r\nHost: localhost\r\nX-A: b\0c\r\n\r\n" + Smuggled },
        { "two Hosts", "GET /a HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n" + Smuggled },
        { "Host port out of range", "GET /a HTTP/1.1\r\nHost: localhost:99999\r\n\r\n" + Smuggled },
        { "space in header name", "GET /a HTTP/1.1\r\nHost: localhost\r\nContent Length: " + N + "\r\n\r\n" + Smuggled },
        { "request line with LF only", "GET /a HTTP/1.1\nHost: localhost\n\n" + Smuggled },
        { "absolute-form target", "GET http://other.example/a HTTP/1.1\r\nHost: localhost\r\n\r\n" + Smuggled },
        { "GET whose body is a request", "GET /a HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + N + "\r\n\r\n" + Smuggled },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public Task Streaming_NothingSmuggledReachesTheApp(string shape, string request) => CheckAsync(fixture.Streaming, shape, request);

    [Theory]
    [MemberData(nameof(Corpus))]
    public Task Buffering_NothingSmuggledReachesTheApp(string shape, string request) => CheckAsync(fixture.Buffering, shape, request);

    private async Task CheckAsync(SidecarSetup sidecar, string shape, string request)
    {
        var before = fixture.App.Received.Count;

        var answer = Encoding.Latin1.GetString(await RawHttps.SendBytesAsync(sidecar.Sidecar, Encoding.Latin1.GetBytes(request), endInput: true));
        var marker = await RawHttps.SendAsync(sidecar.Sidecar, $"GET /marker-{Guid.NewGuid():N} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        var seen = fixture.App.Received.Skip(before).ToList();

        Assert.True(answer.Length == 0 || answer.StartsWith("HTTP/1.", StringComparison.Ordinal), $"{shape}: not an HTTP answer: {answer}");
        // A request the sidecar parsed as a second request of this client (pipelining after a well-framed first one)
        // is answered to this client; a smuggled one reaches the app without the client ever getting its answer.
        var appSawSecond = seen.Count(r => r.Target == "/smuggled");
        var clientGotSecond = answer.Contains("app saw /smuggled", StringComparison.Ordinal) ? 1 : 0;
        Assert.True(appSawSecond == clientGotSecond, $"{shape}: the app saw /smuggled {appSawSecond} time(s), the client got {clientGotSecond} answer for it. Answer: {answer}");
        Assert.DoesNotContain(seen, r => r.Head.Contains("smuggled", StringComparison.Ordinal) && r.Target != "/smuggled");
        Assert.DoesNotContain(seen, r => r.Values("Transfer-Encoding").Any() && r.Values("Content-Length").Any());
        var markerTarget = marker[(marker.IndexOf("app saw ", StringComparison.Ordinal) + "app saw ".Length)..].Trim();
        Assert.StartsWith("HTTP/1.1 200", marker, StringComparison.Ordinal);
        Assert.StartsWith("/marker-", markerTarget, StringComparison.Ordinal);
    }
}
