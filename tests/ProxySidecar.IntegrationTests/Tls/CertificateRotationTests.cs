using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.Tls;
using Xunit.Abstractions;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>Runs alone (not beside CPU-heavy tests) so the pick-up figures measure the sidecar, not the neighbours.</summary>
[CollectionDefinition(nameof(CertificateRotationTests), DisableParallelization = true)]
public sealed class CertificateRotationRunsAlone;

[Collection(nameof(CertificateRotationTests))]
public sealed class CertificateRotationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan ReloadInterval = TimeSpan.FromMilliseconds(200);

    // "Within two reload intervals", plus room for a loaded 2-core machine to schedule the poller and the probe.
    private static readonly TimeSpan PickUpDeadline = (2 * ReloadInterval) + TimeSpan.FromMilliseconds(600);

    [Fact]
    public async Task Rotation_KubeletSwapUnderContinuousLoad_NoRequestFailsAndNewConnectionsGetEachNewCertificate()
    {
        using var temp = new TempDirectory();
        using var ca = new TestCertificateAuthority();
        var first = ca.Issue();
        var mount = KubeletSecretMount.ForPair(temp.Combine("tls"), first.ChainPem, first.KeyPem);
        await using var upstream = await TestUpstream.StartAsync();
        await using var sidecar = await StartAsync(upstream, mount, ca.Certificate);
        Assert.Equal(first.Thumbprint, await TlsProbe.ServedThumbprintAsync(sidecar, ca.Certificate));
        var published = new System.Collections.Concurrent.ConcurrentDictionary<string, DateTime>(StringComparer.Ordinal);
        sidecar.Services.GetRequiredService<CertificateStore>().CertificateChanged += c => published[c.Thumbprint] = DateTime.UtcNow;

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var keptAlive = Task.Run(() => SendContinuouslyAsync(sidecar, newConnectionEachTime: false, stop.Token));
        var fresh = Task.Run(() => SendContinuouslyAsync(sidecar, newConnectionEachTime: true, stop.Token));

        var pickUps = new List<TimeSpan>();
        var publishDelays = new List<TimeSpan>();
        try
        {
            await Task.Delay(ReloadInterval);
            for (var rotation = 1; rotation <= 4; rotation++)
            {
                var next = ca.Issue();
                var swappedAt = DateTime.UtcNow;
                mount.Update(KubeletSecretMount.Pair(next.ChainPem, next.KeyPem));
                pickUps.Add(await TlsProbe.WaitForServedAsync(sidecar, ca.Certificate, next.Thumbprint, PickUpDeadline, swappedAt));

                // The store serves the new certificate, then tells its listeners: the event may come a moment later.
                var deadline = DateTime.UtcNow + PickUpDeadline;
                while (!published.ContainsKey(next.Thumbprint) && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(10);
                }

                publishDelays.Add(published[next.Thumbprint] - swappedAt);

                // Let traffic run on the new certificate for a moment before the next swap.
                await Task.Delay(ReloadInterval);
            }
        }
        finally
        {
            await stop.CancelAsync();
        }

        var keptAliveResult = await keptAlive;
        var freshResult = await fresh;
        var status = await sidecar.GetStatusAsync();
        output.WriteLine(
            $"Rotation figures: {pickUps.Count} swaps at ReloadInterval {ReloadInterval.TotalMilliseconds} ms; " +
            $"kept-alive loop: {keptAliveResult.Sent} requests on {keptAliveResult.Connections} connection(s), {keptAliveResult.Failed} failed; " +
            $"new connection per request: {freshResult.Sent} requests on {freshResult.Connections} connections, {freshResult.Failed} failed; " +
            $"time from swap to new certificate on a new connection: {string.Join(", ", pickUps.Select(p => $"{p.TotalMilliseconds:F0} ms"))} " +
            $"(max {pickUps.Max().TotalMilliseconds:F0} ms); swap to publication inside the sidecar: {string.Join(", ", publishDelays.Select(p => $"{p.TotalMilliseconds:F0} ms"))}; reloads counted in /status: {status["certificate"]!["reloads"]!.ToJsonString()}");
        foreach (var error in keptAliveResult.Errors.Concat(freshResult.Errors).Take(5))
        {
            output.WriteLine("failure: " + error);
        }

        Assert.True(keptAliveResult.Sent > 0 && freshResult.Sent > 0, "both loops sent requests");
        Assert.Equal(0, keptAliveResult.Failed);
        Assert.Equal(0, freshResult.Failed);

        // The kept-alive connection outlived every swap: rotation never closes an open connection.
        Assert.Equal(1, keptAliveResult.Connections);
        Assert.Equal(freshResult.Sent, freshResult.Connections);
        Assert.Equal(4, pickUps.Count);
        Assert.Equal(4, (long)status["certificate"]!["reloads"]!["succeeded"]!);
        Assert.Equal(0, (long)status["certificate"]!["reloads"]!["failed"]!);
    }

    private static async Task<LoadResult> SendContinuouslyAsync(SidecarHost sidecar, bool newConnectionEachTime, CancellationToken stop)
    {
        var result = new LoadResult();
        var handler = sidecar.CreateHandler();
        handler.ConnectCallback = async (context, token) =>
        {
            result.Connections++;
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, token);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
        using var client = new HttpClient(handler, disposeHandler: true) { BaseAddress = sidecar.HttpsAddress };
        while (!stop.IsCancellationRequested)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/load", UriKind.Relative));
            if (newConnectionEachTime)
            {
                request.Headers.ConnectionClose = true;
            }

            result.Sent++;
            try
            {
                using var response = await client.SendAsync(request, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                if (response.StatusCode != HttpStatusCode.OK || body != "upstream:/load")
                {
                    result.Failed++;
                    result.Errors.Add($"{(int)response.StatusCode}: {body}");
                }
            }
            catch (HttpRequestException error)
            {
                result.Failed++;
                result.Errors.Add(error.ToString());
            }
        }

        return result;
    }

    internal static Task<SidecarHost> StartAsync(TestUpstream upstream, KubeletSecretMount mount, X509Certificate2 ca, IDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Sidecar:Upstream:Address"] = upstream.Address.ToString(),
            ["Sidecar:Tls:CertificatePath"] = mount.CertificatePath,
            ["Sidecar:Tls:KeyPath"] = mount.KeyPath,
            ["Sidecar:Tls:ReloadInterval"] = ReloadInterval.ToString(),
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return SidecarHost.StartAsync(settings, ca);
    }

    private sealed class LoadResult
    {
        public int Sent { get; set; }

        public int Failed { get; set; }

        public int Connections { get; set; }

        public List<string> Errors { get; } = [];
    }
}
