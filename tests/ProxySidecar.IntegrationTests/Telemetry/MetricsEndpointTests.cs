using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.Telemetry;

namespace ProxySidecar.IntegrationTests.Telemetry;

[Collection(TelemetryTestGroup.Name)]
public sealed partial class MetricsEndpointTests
{
    [Fact]
    public async Task Metrics_AfterTraffic_ListsCertificateUpstreamAndHttpInstruments()
    {
        await using var rig = await TelemetryRig.StartAsync();
        await rig.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
        using var client = rig.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync(new Uri($"/page/{i}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var text = await ScrapeAsync(rig);

        Assert.Equal(rig.CertificateNotAfter.ToUnixTimeSeconds(), (long)Value(text, "proxysidecar_tls_certificate_not_after_seconds"));
        Assert.Equal(1, Value(text, "proxysidecar_upstream_up"));
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Equal(3, Sum(text, "http_server_request_duration_seconds_count"));
        Assert.Contains("le=\"+Inf\"", text, StringComparison.Ordinal);
        // The boundaries ASP.NET Core advises (seconds), not OpenTelemetry's defaults (0, 5, 10 … 10000).
        Assert.Contains(text.Split('\n'), l => l.StartsWith("http_server_request_duration_seconds_bucket{", StringComparison.Ordinal) && l.Contains("le=\"0.005\"", StringComparison.Ordinal));
        Assert.True(Sum(text, "http_client_request_duration_seconds_count") >= 3, "the calls to the app are measured");
        Assert.Contains("kestrel_active_connections", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Metrics_InFlightGauges_OnlyWhenAskedFor(bool asked)
    {
        var settings = asked ? new Dictionary<string, string?> { ["Sidecar:Telemetry:InFlightMetrics"] = "true" } : null;
        await using var rig = await TelemetryRig.StartAsync(settings);
        await rig.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
        using var client = rig.CreateClient();
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.GetAsync(new Uri($"/inflight/{i}", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var text = await ScrapeAsync(rig);

        // The rest of the set is there either way.
        Assert.Equal(2, Sum(text, "http_server_request_duration_seconds_count"));
        Assert.True(Sum(text, "http_client_request_duration_seconds_count") >= 2, "the calls to the app are measured");
        foreach (var gauge in new[] { "http_server_active_requests", "http_client_active_requests", "http_client_open_connections" })
        {
            Assert.Equal(asked, text.Split('\n').Any(l => l.StartsWith(gauge + "{", StringComparison.Ordinal) || l.StartsWith(gauge + " ", StringComparison.Ordinal)));
        }
    }

    [Fact]
    public async Task Metrics_AdminRequests_AreNotCountedAsServerTraffic()
    {
        await using var rig = await TelemetryRig.StartAsync();
        using var admin = rig.Sidecar.CreateAdminClient();
        for (var i = 0; i < 5; i++)
        {
            using var ready = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
            using var status = await admin.GetAsync(new Uri("/status", UriKind.Relative));
        }

        using var client = rig.CreateClient();
        using (var response = await client.GetAsync(new Uri("/one", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var text = await ScrapeAsync(rig);

        Assert.Equal(1, Sum(text, "http_server_request_duration_seconds_count"));
    }

    [Fact]
    public async Task Metrics_AppUnreachable_CountsForwarderErrorsAndUpstreamDown()
    {
        var closed = $"http://127.0.0.1:{FreePort.Next()}";
        await using var rig = await TelemetryRig.StartAsync(upstreamAddress: closed);
        using var client = rig.CreateClient();
        for (var i = 0; i < 2; i++)
        {
            using var response = await client.GetAsync(new Uri("/down", UriKind.Relative));
            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        }

        var text = await ScrapeAsync(rig);

        Assert.Equal(2, Value(text, "proxysidecar_forwarder_errors_total{error=\"Request\"}"));
        Assert.Equal(0, Value(text, "proxysidecar_upstream_up"));
    }

    [Fact]
    public async Task Metrics_AfterCacheTraffic_ListsTheCacheInstrumentsWithValues()
    {
        await using var rig = await TelemetryRig.StartAsync();
        rig.Upstream.Map("/cached", async context =>
        {
            context.Response.Headers.CacheControl = "public, max-age=60";
            await context.Response.WriteAsync(new string('x', 1024));
        });
        using var client = rig.CreateClient();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync(new Uri("/cached", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The store write happens after the first response completed; scrape until it is counted.
        var text = await ScrapeUntilAsync(rig, t => t.Contains("proxysidecar_cache_stores_total{", StringComparison.Ordinal));

        // No rule matches /cached: its figures carry the rule label "(none)".
        Assert.Equal(1, rig.Upstream.Count);
        Assert.Equal(2, Value(text, "proxysidecar_cache_lookups_total{result=\"hit\",rule=\"(none)\"}"));
        Assert.Equal(1, Value(text, "proxysidecar_cache_lookups_total{result=\"miss\",rule=\"(none)\"}"));
        Assert.Equal(1, Value(text, "proxysidecar_cache_stores_total{rule=\"(none)\"}"));
        Assert.True(Value(text, "proxysidecar_cache_stored_bytes_total{rule=\"(none)\"}") >= 1024);
        Assert.True(Value(text, "proxysidecar_cache_bytes") >= 1024);
        Assert.Equal(1, Value(text, "proxysidecar_cache_entries"));
    }

    private static async Task<string> ScrapeUntilAsync(TelemetryRig rig, Func<string, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        string text;
        do
        {
            text = await ScrapeAsync(rig);
            if (condition(text))
            {
                return text;
            }

            await Task.Delay(50);
        }
        while (DateTime.UtcNow < deadline);

        return text;
    }

    [Fact]
    public async Task Metrics_OnThePublicPort_IsForwardedToTheApp()
    {
        await using var rig = await TelemetryRig.StartAsync();
        using var client = rig.CreateClient();

        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("upstream:/metrics", await response.Content.ReadAsStringAsync());
        Assert.Equal("/metrics", Assert.Single(rig.Upstream.Received).Path);
    }

    [Fact]
    public async Task Metrics_Get_ServesPrometheusTextAndPostIsRefused()
    {
        await using var rig = await TelemetryRig.StartAsync();
        using var admin = rig.Sidecar.CreateAdminClient();

        using var get = await admin.GetAsync(new Uri("/metrics", UriKind.Relative));
        using var post = await admin.PostAsync(new Uri("/metrics", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", get.Content.Headers.ContentType!.ToString());
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
    }

    private static async Task<string> ScrapeAsync(TelemetryRig rig)
    {
        using var admin = rig.Sidecar.CreateAdminClient();
        using var response = await admin.GetAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of the one sample named exactly <paramref name="series"/> (name and labels).</summary>
    private static double Value(string text, string series)
    {
        var line = Assert.Single(text.Split('\n'), l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>The sum over every sample of <paramref name="name"/>, whatever its labels.</summary>
    private static double Sum(string text, string name) =>
        SampleLine().Matches(text)
            .Where(m => m.Groups["name"].Value == name)
            .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (?<value>\S+)$", RegexOptions.Multiline)]
    private static partial Regex SampleLine();
}
