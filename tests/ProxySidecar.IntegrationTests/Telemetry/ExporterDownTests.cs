using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using ProxySidecar.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ProxySidecar.IntegrationTests.Telemetry;

/// <summary>An OTLP collector that is down must never fail or hold up a request.</summary>
[Collection(TelemetryTestGroup.Name)]
public sealed class ExporterDownTests(ITestOutputHelper output)
{
    private const int Requests = 200;

    [Fact]
    public async Task Requests_CollectorPortClosed_AllSucceed()
    {
        // Reference in the same run: the same requests with telemetry off (latency is reported, not asserted).
        string reference;
        await using (var off = await TelemetryRig.StartAsync())
        {
            reference = await SendAllAsync(off);
        }

        var closed = $"http://127.0.0.1:{FreePort.Next()}";
        await using var rig = await TelemetryRig.StartAsync(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = closed,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "50",
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "50",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "100",
            ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information",
        });
        Assert.NotNull(rig.Sidecar.Services.GetService<TracerProvider>());

        var down = await SendAllAsync(rig);

        output.WriteLine($"telemetry off:  {reference}");
        output.WriteLine($"collector down: {down}");
    }

    /// <summary>Sends the requests one after another; every one must be answered 200 by the app.</summary>
    private static async Task<string> SendAllAsync(TelemetryRig rig)
    {
        using var client = rig.CreateClient();
        var elapsed = new List<double>(Requests);
        for (var i = 0; i < Requests; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync(new Uri($"/item/{i}", UriKind.Relative));
            await response.Content.ReadAsByteArrayAsync();
            elapsed.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(Requests, rig.Upstream.Count);
        elapsed.Sort();
        return $"p50 {elapsed[Requests / 2]:F2} ms, p90 {elapsed[Requests * 9 / 10]:F2} ms, p99 {elapsed[Requests * 99 / 100]:F2} ms, max {elapsed[^1]:F2} ms over {Requests} sequential requests";
    }
}
