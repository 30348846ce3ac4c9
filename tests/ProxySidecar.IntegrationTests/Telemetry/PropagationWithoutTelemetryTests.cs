using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;

namespace ProxySidecar.IntegrationTests.Telemetry;

/// <summary>With no OTEL_* variable set: nothing is traced or exported, and the app still gets the client's trace.</summary>
[Collection(TelemetryTestGroup.Name)]
public sealed class PropagationWithoutTelemetryTests
{
    [Fact]
    public async Task Start_NoOtelVariables_NoTracerAndNoOpenTelemetryLogger()
    {
        await using var rig = await TelemetryRig.StartAsync();

        Assert.Null(rig.Sidecar.Services.GetService<TracerProvider>());
        var loggerProviders = rig.Sidecar.Services.GetServices<ILoggerProvider>().Select(p => p.GetType().FullName).ToArray();
        Assert.DoesNotContain(loggerProviders, name => name!.StartsWith("OpenTelemetry", StringComparison.Ordinal));
        var status = await rig.Sidecar.GetStatusAsync();
        Assert.False(status["telemetry"]!["otlp"]!["traces"]!.GetValue<bool>());
        Assert.False(status["telemetry"]!["otlp"]!["metrics"]!.GetValue<bool>());
        Assert.False(status["telemetry"]!["otlp"]!["logs"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Request_TelemetryOff_AppStillContinuesTheClientsTrace()
    {
        await using var rig = await TelemetryRig.StartAsync();
        using var client = rig.CreateClient();
        var (traceparent, traceId, clientSpanId) = TraceContext.NewTraceparent();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/untraced");
        request.Headers.Add("traceparent", traceparent);
        request.Headers.Add("tracestate", "vendor=abc");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(rig.Upstream.Received);
        var (receivedTrace, receivedParent) = TraceContext.Parse(received.Header("traceparent"));
        Assert.Equal(traceId.ToHexString(), receivedTrace);
        Assert.Matches("^[0-9a-f]{16}$", receivedParent);
        Assert.NotEqual("0000000000000000", receivedParent);

        // The parent is the sidecar's own (unexported) request span, not the client's span: the
        // forwarder injected the current context instead of copying the client's header.
        Assert.NotEqual(clientSpanId.ToHexString(), receivedParent);
        Assert.Equal("vendor=abc", received.Header("tracestate"));

        // One traceparent only: the client's header is replaced, not repeated.
        Assert.Single(received.Headers["traceparent"]);
    }
}
