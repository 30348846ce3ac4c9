using System.Net;
using Microsoft.Extensions.Logging;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>
/// HTTP/2 rapid reset (CVE-2023-44487): a client that opens streams and resets them at once gets a GOAWAY with
/// ENHANCE_YOUR_CALM before its connection is closed, the abuse is logged as one line with the counts, the access
/// log keeps a handful of lines for it, and the app sees a bounded number of requests.
/// </summary>
public sealed class Http2ResetFloodTests
{
    private const string GuardCategory = "ProxySidecar.Hosting.Http2ConnectionGuard";
    private const string AccessLogCategory = "ProxySidecar.AccessLog";
    private const int EnhanceYourCalm = 0xb;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task RapidReset_GoAwayEnhanceYourCalm_OneLogLine_AppRequestsBounded()
    {
        var logs = new CapturedLogs();
        await using var stack = await StartWithAccessLogAsync(logs);
        await using var attacker = await RawHttp2.ConnectAsync(stack.Sidecar.HttpsAddress.Port);

        var pairs = await FloodAsync(attacker, maxPairs: 20_000);
        await attacker.Closed.WaitAsync(Bound);
        var goAways = attacker.Frames.Where(f => f.Type == Http2Frame.GoAway).ToList();
        var line = await logs.WaitForAsync(e => e.Category == GuardCategory, Bound);

        // Kestrel may get its own GOAWAY (INTERNAL_ERROR) out first; the last one, which the client acts on, says why.
        Assert.True(goAways.Count > 0, $"pairs {pairs}; frames {attacker.Frames.Count}: {string.Join(",", attacker.Frames.GroupBy(f => f.Type).Select(g => $"{g.Key}x{g.Count()}"))}; line: {line.Message}");
        Assert.Equal(EnhanceYourCalm, goAways[^1].ErrorCode);
        Assert.DoesNotContain(goAways, g => g.ErrorCode == 0);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.True((long)line["Resets"]! >= 100, line.Message);
        Assert.Equal("ENHANCE_YOUR_CALM", line["GoAway"]);
        Assert.Single(logs.Category(GuardCategory));
        Assert.True(logs.Category(AccessLogCategory).Count() <= 10, $"{logs.Category(AccessLogCategory).Count()} access-log lines");
        Assert.Empty(logs.Entries.Where(e => e.Level >= LogLevel.Warning && e.Category != GuardCategory).Select(e => $"{e.Category}: {e.Message}"));
        Assert.True(stack.Upstream.Count < 500, $"{stack.Upstream.Count} requests reached the app out of {pairs} opened");

        // The sidecar goes on serving other clients.
        using var client = stack.CreateClient(HttpVersion.Version20);
        using var response = await client.GetAsync(new Uri("/after-the-flood", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task FewResets_ConnectionGoesOn_NothingLoggedButTheAccessLog()
    {
        var logs = new CapturedLogs();
        await using var stack = await StartWithAccessLogAsync(logs);
        var arrived = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var path in new[] { "/slow1", "/slow3", "/slow5" })
        {
            stack.Upstream.Map(path, async context =>
            {
                Interlocked.Increment(ref arrived);
                await release.Task.WaitAsync(context.RequestAborted);
            });
        }

        await using (var client = await RawHttp2.ConnectAsync(stack.Sidecar.HttpsAddress.Port))
        {
            // Three requests the client gives up on, as a browser does when the user navigates away.
            await OpenThenResetAsync(client, "/slow", 3, () => Volatile.Read(ref arrived));

            await client.SendAsync(RawHttp2.HeadersFrame(7, RawHttp2.Get("/fine", "localhost"), endStream: true));
            var head = await client.WaitForFrameAsync(f => f.Type == Http2Frame.Headers && f.StreamId == 7, Bound);

            Assert.Equal(200, head?.IndexedStatus);
            Assert.DoesNotContain(client.Frames, f => f.Type == Http2Frame.GoAway);
        }

        await logs.WaitForAsync(e => e.Category == AccessLogCategory && (int?)e["Status"] == 499 && logs.Category(AccessLogCategory).Count() == 4, Bound);
        release.SetResult();
        Assert.Empty(logs.Category(GuardCategory));
    }

    [Fact]
    public async Task ManyResetsThenTheClientCloses_TenAccessLinesAndOneInformationLineWithTheRest()
    {
        var logs = new CapturedLogs();
        await using var stack = await StartWithAccessLogAsync(logs);
        var arrived = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stack.Upstream.Fallback = async context =>
        {
            Interlocked.Increment(ref arrived);
            await release.Task.WaitAsync(context.RequestAborted);
        };
        await using (var client = await RawHttp2.ConnectAsync(stack.Sidecar.HttpsAddress.Port))
        {
            // Fifteen requests a load generator gives up on when it stops.
            await OpenThenResetAsync(client, "/pending", 15, () => Volatile.Read(ref arrived));
        }

        var line = await logs.WaitForAsync(e => e.Category == GuardCategory, Bound);
        release.SetResult();

        Assert.True(line.Level == LogLevel.Information, line.Message);
        Assert.Equal(122, line.EventId.Id);
        Assert.Equal(5L, line["UnloggedResetRequests"]);
        Assert.Equal(10, logs.Category(AccessLogCategory).Count(e => (int?)e["Status"] == 499));
    }

    /// <summary>A sidecar with its access log on, its log lines captured.</summary>
    private static Task<SidecarSetup> StartWithAccessLogAsync(CapturedLogs logs) => SidecarSetup.StartAsync(
        new Dictionary<string, string?> { ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information" },
        configureServices: logs.AddTo);

    /// <summary>
    /// Opens <paramref name="count"/> requests (streams 1, 3, ..., paths <paramref name="prefix"/>{stream}), waits until
    /// the app has all of them, then resets every one.
    /// </summary>
    private static async Task OpenThenResetAsync(RawHttp2 client, string prefix, int count, Func<int> arrived)
    {
        var last = (2 * count) - 1;
        for (var stream = 1; stream <= last; stream += 2)
        {
            await client.SendAsync(RawHttp2.HeadersFrame(stream, RawHttp2.Get($"{prefix}{stream}", "localhost"), endStream: true));
        }

        await WaitUntilAsync(() => arrived() == count);
        for (var stream = 1; stream <= last; stream += 2)
        {
            await client.SendAsync(RawHttp2.RstStreamFrame(stream));
        }
    }

    /// <summary>HEADERS and RST_STREAM pairs, 50 at a time, until the server closes the connection; the pairs sent.</summary>
    private static async Task<int> FloodAsync(RawHttp2 connection, int maxPairs)
    {
        var sent = 0;
        var stream = 1;
        while (sent < maxPairs && !connection.Closed.IsCompleted)
        {
            var batch = new List<byte>();
            for (var i = 0; i < 50; i++, stream += 2)
            {
                batch.AddRange(RawHttp2.HeadersFrame(stream, RawHttp2.Get("/", "localhost"), endStream: true));
                batch.AddRange(RawHttp2.RstStreamFrame(stream));
            }

            if (!await connection.SendAsync([.. batch]))
            {
                break;
            }

            sent += 50;
        }

        return sent;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition never held.");
            }

            await Task.Delay(10);
        }
    }
}
