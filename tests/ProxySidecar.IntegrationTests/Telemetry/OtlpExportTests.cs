using System.Net;
using System.Text;
using System.Text.Json;
using ProxySidecar.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace ProxySidecar.IntegrationTests.Telemetry;

/// <summary>The real binary, configured only through the standard OTEL_* environment variables.</summary>
[Collection(TelemetryTestGroup.Name)]
[Trait("Category", SidecarProcess.Category)]
public sealed class OtlpExportTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Binary_OtlpEndpointSet_ExportsTracesMetricsAndLogs()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var grpcReceiver = await OtlpReceiver.StartAsync(grpc: true);
        await using var running = await RunningBinary.StartAsync(new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Address.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",

            // Traces go elsewhere, over gRPC (the default protocol): the signal-specific variables win.
            ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = grpcReceiver.Address.ToString().TrimEnd('/'),
            ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "grpc",
            ["OTEL_SERVICE_NAME"] = "checkout-sidecar",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "100",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "200",
        });
        output.WriteLine($"ready after {clock.ElapsedMilliseconds} ms");
        var (traceparent, traceId, _) = TraceContext.NewTraceparent();

        await running.SendAsync(traceparent, count: 3);
        output.WriteLine($"sent after {clock.ElapsedMilliseconds} ms");

        var traceIdBytes = Convert.FromHexString(traceId.ToHexString());
        await TraceContext.WaitForAsync(
            () => grpcReceiver.Bodies("/v1/traces"),
            bodies => bodies.Any(b => b.AsSpan().IndexOf(traceIdBytes) >= 0),
            () => $"a gRPC trace export carrying the client's trace id; stdout:\n{running.Process.Stdout}\nstderr:\n{running.Process.Stderr}");
        await TraceContext.WaitForAsync(
            () => receiver.Bodies("/v1/metrics"),
            bodies => bodies.Any(b => Contains(b, "http.server.request.duration")) && bodies.Any(b => Contains(b, "proxysidecar.tls.certificate.not_after")),
            "a metric export with the server duration and the certificate gauge");
        await TraceContext.WaitForAsync(
            () => receiver.Bodies("/v1/logs"),
            bodies => bodies.Any(b => b.AsSpan().IndexOf(traceIdBytes) >= 0),
            "a log export correlated with the request's trace");
        output.WriteLine($"all exported after {clock.ElapsedMilliseconds} ms");
        Assert.Contains(grpcReceiver.Bodies("/v1/traces"), b => Contains(b, "checkout-sidecar"));
        Assert.Empty(receiver.Bodies("/v1/traces"));
        Assert.Contains("OpenTelemetry: exporting traces, metrics, logs over OTLP", running.Process.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Binary_NoOtelVariables_ConsoleLogsCarryTraceAndSpanIds()
    {
        await using var running = await RunningBinary.StartAsync(new Dictionary<string, string>());
        var (traceparent, traceId, _) = TraceContext.NewTraceparent();

        await running.SendAsync(traceparent, count: 1);

        var line = await TraceContext.WaitForAsync(
            () => running.Process.Stdout.Split('\n').FirstOrDefault(l => l.Contains("\"ProxySidecar.AccessLog\"", StringComparison.Ordinal) && l.Contains("/traced/0", StringComparison.Ordinal)),
            l => l is not null,
            () => "an access-log line for the request; stdout:\n" + running.Process.Stdout);
        using var json = JsonDocument.Parse(line!);
        var scopes = json.RootElement.GetProperty("Scopes").EnumerateArray().ToArray();
        var activity = Assert.Single(scopes, s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty("TraceId", out _));
        Assert.Equal(traceId.ToHexString(), activity.GetProperty("TraceId").GetString());
        Assert.Matches("^[0-9a-f]{16}$", activity.GetProperty("SpanId").GetString());

        Assert.Contains("OpenTelemetry: no OTLP endpoint set, nothing is exported", running.Process.Stdout, StringComparison.Ordinal);

        // The app got the same trace: the log line, the app and the client agree on one trace id.
        var (appTrace, _) = TraceContext.Parse(Assert.Single(running.Upstream.Received).Header("traceparent"));
        Assert.Equal(traceId.ToHexString(), appTrace);
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>The sidecar binary in front of a test app, with a test certificate and free ports.</summary>
    private sealed class RunningBinary : IAsyncDisposable
    {
        private RunningBinary(TestUpstream upstream, ProcessSetup setup)
        {
            Upstream = upstream;
            Setup = setup;
        }

        public TestUpstream Upstream { get; }

        public ProcessSetup Setup { get; }

        public SidecarProcess Process => Setup.Process;

        public static async Task<RunningBinary> StartAsync(Dictionary<string, string> environment)
        {
            var upstream = await TestUpstream.StartAsync();
            var running = new RunningBinary(upstream, ProcessSetup.Start(upstream.Address, environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value)));
            try
            {
                await running.Setup.WaitForReadinessAsync();
            }
            catch
            {
                await running.DisposeAsync();
                throw;
            }

            return running;
        }

        /// <summary>Sends <paramref name="count"/> GETs to /traced/{i} with the given traceparent; all must succeed.</summary>
        public async Task SendAsync(string traceparent, int count)
        {
            using var client = Setup.CreateClient(propagateTraceContext: false);
            for (var i = 0; i < count; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/traced/{i}", UriKind.Relative));
                request.Headers.Add("traceparent", traceparent);
                using var response = await client.SendAsync(request);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Setup.Dispose();
            await Upstream.DisposeAsync();
        }
    }
}
