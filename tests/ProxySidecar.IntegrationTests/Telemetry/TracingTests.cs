using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using ProxySidecar.Telemetry;

namespace ProxySidecar.IntegrationTests.Telemetry;

[Collection(TelemetryTestGroup.Name)]
public sealed class TracingTests
{
    private static Action<IServiceCollection> TraceInto(SynchronizedList<Activity> spans) => services =>
    {
        services.AddSidecarTracing();
        services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans));
    };

    private static string Describe(IEnumerable<Activity> spans) =>
        string.Join("; ", spans.Select(s => $"{s.Source.Name} {s.Kind} {s.DisplayName} {s.SpanId}<-{s.ParentSpanId} [{string.Join(",", s.TagObjects.Select(t => $"{t.Key}={t.Value}({t.Value?.GetType().Name})"))}]"));

    private static int Port(Activity span) => span.GetTagItem("server.port") is int port ? port : -1;

    // The app receives the client's Host header, so its server span names the sidecar's address too;
    // the scheme tells them apart: the sidecar serves https, the test app http.
    private static bool IsSidecarServer(Activity span) => span.Kind == ActivityKind.Server && "https".Equals(span.GetTagItem("url.scheme"));

    private static bool IsAppServer(Activity span) => span.Kind == ActivityKind.Server && "http".Equals(span.GetTagItem("url.scheme"));

    [Fact]
    public async Task Request_ClientSentTraceparent_AppSeesSameTraceWithProxyClientSpanAsParent()
    {
        var spans = new SynchronizedList<Activity>();
        await using var rig = await TelemetryRig.StartAsync(configureServices: TraceInto(spans));
        using var client = rig.CreateClient();
        var (traceparent, traceId, clientSpanId) = TraceContext.NewTraceparent();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/orders/42");
        request.Headers.Add("traceparent", traceparent);
        request.Headers.Add("tracestate", "vendor=abc");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var upstreamPort = rig.Upstream.Address.Port;
        var ours = await TraceContext.WaitForAsync(
            () => spans.Snapshot().Where(s => s.TraceId == traceId).ToArray(),
            s => s.Any(IsSidecarServer) && s.Any(IsAppServer),
            () => "the sidecar's and the app's server spans are exported; got " + Describe(spans.Snapshot().Where(s => s.TraceId == traceId)));

        // The sidecar's server span continues the client's trace ...
        var server = Assert.Single(ours, IsSidecarServer);
        Assert.Equal(clientSpanId, server.ParentSpanId);
        Assert.Equal("GET", server.GetTagItem("http.request.method"));
        Assert.Equal(200, server.GetTagItem("http.response.status_code"));
        Assert.Equal("/orders/42", server.GetTagItem("url.path"));
        Assert.Equal(rig.Sidecar.HttpsAddress.Port, Port(server));

        // ... the call to the app is its child ...
        var call = Assert.Single(ours, s => s.Kind == ActivityKind.Client);
        Assert.Equal(server.SpanId, call.ParentSpanId);
        Assert.Equal("System.Net.Http", call.Source.Name);
        Assert.Equal(upstreamPort, Port(call));

        // ... and the app received that client span as its parent, with the client's tracestate.
        var received = Assert.Single(rig.Upstream.Received);
        var (receivedTrace, receivedParent) = TraceContext.Parse(received.Header("traceparent"));
        Assert.Equal(traceId.ToHexString(), receivedTrace);
        Assert.Equal(call.SpanId.ToHexString(), receivedParent);
        Assert.Equal("vendor=abc", received.Header("tracestate"));

        // The app's own spans join the same trace under the proxy's client span.
        var appSpan = Assert.Single(ours, IsAppServer);
        Assert.Equal(call.SpanId, appSpan.ParentSpanId);
    }

    [Fact]
    public async Task Request_WithoutTraceparent_StartsATraceTheAppContinues()
    {
        var spans = new SynchronizedList<Activity>();
        await using var rig = await TelemetryRig.StartAsync(configureServices: TraceInto(spans));
        using var client = rig.CreateClient();

        using var response = await client.GetAsync(new Uri("/fresh", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (traceId, parentId) = TraceContext.Parse(Assert.Single(rig.Upstream.Received).Header("traceparent"));
        var call = await TraceContext.WaitForAsync(
            () => spans.Snapshot().FirstOrDefault(s => s.Kind == ActivityKind.Client && s.TraceId.ToHexString() == traceId),
            s => s is not null,
            "the client span of the forwarded call is exported");
        Assert.Equal(parentId, call!.SpanId.ToHexString());
        var server = await TraceContext.WaitForAsync(
            () => spans.Snapshot().FirstOrDefault(s => s.SpanId == call.ParentSpanId),
            s => s is not null,
            "the sidecar's server span is exported");
        Assert.Equal(ActivityKind.Server, server!.Kind);
        Assert.Equal(default, server.ParentSpanId);
    }

    [Fact]
    public async Task Request_WithSecretsInQueryAndHeaders_NoSecretIsRecorded()
    {
        var spans = new SynchronizedList<Activity>();
        await using var rig = await TelemetryRig.StartAsync(configureServices: TraceInto(spans));
        using var client = rig.CreateClient();
        var (traceparent, traceId, _) = TraceContext.NewTraceparent();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/login?token=QUERYSECRET&user=alice");
        request.Headers.Add("traceparent", traceparent);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer AUTHSECRET");
        request.Headers.TryAddWithoutValidation("Cookie", "session=COOKIESECRET");
        rig.Upstream.Map("/login", async context =>
        {
            context.Response.Headers.SetCookie = "session=SETCOOKIESECRET";
            await context.Response.WriteAsync("ok");
        });

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("?token=QUERYSECRET&user=alice", Assert.Single(rig.Upstream.Received).QueryString);
        var ours = await TraceContext.WaitForAsync(
            () => spans.Snapshot().Where(s => s.TraceId == traceId).ToArray(),
            s => s.Count(x => x.Kind == ActivityKind.Server) >= 2 && s.Any(x => x.Kind == ActivityKind.Client),
            "server, client and app spans are exported");
        var recorded = ours.SelectMany(s => s.TagObjects.Select(t => $"{t.Key}={t.Value}")
            .Append(s.DisplayName)
            .Concat(s.Events.SelectMany(e => e.Tags.Select(t => $"{t.Key}={t.Value}")))).ToArray();
        Assert.Contains(recorded, r => r.StartsWith("url.query=", StringComparison.Ordinal) && r.Contains("token=Redacted", StringComparison.Ordinal));
        foreach (var secret in new[] { "QUERYSECRET", "alice", "AUTHSECRET", "COOKIESECRET", "SETCOOKIESECRET" })
        {
            Assert.DoesNotContain(recorded, r => r.Contains(secret, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AdminRequestsAndProbes_AreNotTraced()
    {
        var spans = new SynchronizedList<Activity>();
        await using var rig = await TelemetryRig.StartAsync(
            new Dictionary<string, string?>
            {
                ["Sidecar:Upstream:ProbePath"] = "/probe",
                ["Sidecar:Upstream:ProbeInterval"] = "00:00:00.1",
            },
            TraceInto(spans));
        await TraceContext.WaitForAsync(() => rig.Upstream.Received.Count(r => r.Path == "/probe"), n => n >= 3, "the app is probed a few times");
        using (var admin = rig.Sidecar.CreateAdminClient())
        {
            using var ready = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
            using var metrics = await admin.GetAsync(new Uri("/metrics", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        // A public request afterwards: once its spans are out, anything the admin calls made would be too.
        using var client = rig.CreateClient();
        var (traceparent, traceId, _) = TraceContext.NewTraceparent();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/after");
        request.Headers.Add("traceparent", traceparent);
        using var response = await client.SendAsync(request);
        await TraceContext.WaitForAsync(
            () => spans.Snapshot().Count(s => s.TraceId == traceId),
            n => n >= 3,
            "the public request's spans are exported");

        // The test app's own server spans are not the sidecar's (the admin listener is plain http too,
        // but on its own port); everything else is.
        var sidecarSpans = spans.Snapshot()
            .Where(s => s.TraceId != traceId && !(IsAppServer(s) && Port(s) != rig.Sidecar.AdminAddress.Port))
            .ToArray();
        Assert.All(rig.Upstream.Received.Where(r => r.Path == "/probe"), probe => Assert.Null(probe.Header("traceparent")));
        Assert.Empty(sidecarSpans.Select(s => $"{s.Kind} {s.DisplayName} {s.GetTagItem("url.path")}{s.GetTagItem("url.full")}"));
    }
}
