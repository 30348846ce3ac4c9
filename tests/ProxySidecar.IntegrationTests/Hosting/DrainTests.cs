using System.Net;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>SIGTERM to the real binary with many requests in flight over HTTP/1.1 and HTTP/2: none fails.</summary>
[Trait("Category", SidecarProcess.Category)]
public sealed class DrainTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Sigterm_ManyRequestsInFlight_NoneFailsWithinDrainTimeout()
    {
        const int PerProtocol = 20;
        await using var upstream = await TestUpstream.StartAsync();
        var arrived = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Map("/slow", async context =>
        {
            Interlocked.Increment(ref arrived);
            await release.Task.WaitAsync(Bound);
            await context.Response.WriteAsync("done " + context.Request.Query["i"]);
        });
        using var setup = ProcessSetup.Start(upstream.Address, new Dictionary<string, string?>
        {
            ["Sidecar__Hosting__DrainTimeout"] = "00:00:10",
            ["Sidecar__Hosting__ShutdownDelay"] = "00:00:01",
        });
        await setup.WaitForReadinessAsync();
        using var http1 = setup.CreateClient();
        using var http2 = setup.CreateClient();
        var inFlight = Enumerable.Range(0, PerProtocol).Select(i => GetAsync(http1, HttpVersion.Version11, i))
            .Concat(Enumerable.Range(PerProtocol, PerProtocol).Select(i => GetAsync(http2, HttpVersion.Version20, i)))
            .ToList();
        await WaitUntilAsync(() => Volatile.Read(ref arrived) == 2 * PerProtocol, "every request reached the app");

        setup.Process.Terminate();
        await setup.Process.WaitForOutputAsync("Shutdown requested", Bound);

        // During ShutdownDelay the listeners still take new requests; then they close, and the drain begins.
        using var late = await http1.GetAsync(new Uri("/late", UriKind.Relative));
        await WaitUntilAsync(() => !Accepts(setup.HttpsPort), "the listener closed");
        release.SetResult();
        var results = await Task.WhenAll(inFlight);
        var exited = setup.Process.WaitForExit(TimeSpan.FromSeconds(15));

        Assert.Equal(HttpStatusCode.OK, late.StatusCode);
        Assert.Empty(results.Where(r => r.Status != HttpStatusCode.OK).Select(r => $"{r.Index}: {r.Status} {r.Error}"));
        Assert.All(results, r => Assert.Equal("done " + r.Index, r.Body));
        Assert.Equal(PerProtocol, results.Count(r => r.Version == HttpVersion.Version20));
        Assert.True(exited, "The process did not exit within DrainTimeout.");
        Assert.Equal(0, setup.Process.ExitCode);
    }

    private static async Task<(int Index, HttpStatusCode? Status, Version? Version, string? Body, string? Error)> GetAsync(HttpClient client, Version version, int index)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/slow?i={index}") { Version = version, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
            using var response = await client.SendAsync(request);
            return (index, response.StatusCode, response.Version, await response.Content.ReadAsStringAsync(), null);
        }
        catch (HttpRequestException error)
        {
            return (index, null, null, null, error.Message);
        }
    }

    private static bool Accepts(int port)
    {
        try
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            tcp.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Never true: " + what);
            }

            await Task.Delay(20);
        }
    }
}
