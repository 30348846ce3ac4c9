using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Tests.Telemetry;

public sealed class PrometheusTextTests
{
    [Theory]
    [InlineData("http.server.request.duration", "s", false, "http_server_request_duration_seconds")]
    [InlineData("proxysidecar.tls.certificate.not_after", "s", false, "proxysidecar_tls_certificate_not_after_seconds")]
    [InlineData("proxysidecar.cache.lookups", "{lookup}", true, "proxysidecar_cache_lookups_total")]
    [InlineData("proxysidecar.cache.stored_bytes", "By", true, "proxysidecar_cache_stored_bytes_total")]
    [InlineData("proxysidecar.cache.bytes", "By", false, "proxysidecar_cache_bytes")]
    [InlineData("proxysidecar.upstream.up", "1", false, "proxysidecar_upstream_up")]
    [InlineData("kestrel.active_connections", "{connection}", false, "kestrel_active_connections")]
    [InlineData("jobs.total", null, true, "jobs_total")]
    [InlineData("2xx-rate", "ms", false, "_2xx_rate_milliseconds")]
    public void MetricName_OpenTelemetryInstrument_FollowsPrometheusConventions(string name, string? unit, bool counter, string expected) =>
        Assert.Equal(expected, PrometheusText.MetricName(name, unit, counter));

    [Theory]
    [InlineData(true, "true")]
    [InlineData(false, "false")]
    [InlineData(1.5, "1.5")]
    [InlineData(42L, "42")]
    [InlineData("GET", "GET")]
    [InlineData(null, "")]
    public void LabelValue_Attribute_WrittenAsOpenTelemetryWritesIt(object? value, string expected) =>
        Assert.Equal(expected, PrometheusText.LabelValue(value));

    [Fact]
    public void Scrape_CounterGaugeAndHistogram_WritesTextFormat()
    {
        var meterName = "PrometheusTextTests." + Guid.NewGuid().ToString("N");
        var scraper = new PrometheusScraper();
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meterName)
            .AddReader(scraper.Reader)
            .AddView("test.duration", new ExplicitBucketHistogramConfiguration { Boundaries = [0.1, 1] })
            .Build();
        using var meter = new Meter(meterName);
        var counter = meter.CreateCounter<long>("test.requests", "{request}", "Requests \\ seen\nso far.");
        var histogram = meter.CreateHistogram<double>("test.duration", "s");
        meter.CreateObservableGauge("test.level", () => 2.5, "1");
        meter.CreateObservableUpDownCounter("test.queue", () => 4L, "{item}");
        counter.Add(3, new KeyValuePair<string, object?>("path", "a\"b\\c\nd"));
        histogram.Record(0.05);
        histogram.Record(0.5);
        histogram.Record(5);

        var text = scraper.Scrape();

        Assert.NotNull(text);
        Assert.Contains("# HELP test_requests_total Requests \\\\ seen\\nso far.\n# TYPE test_requests_total counter\ntest_requests_total{path=\"a\\\"b\\\\c\\nd\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains(
            "# TYPE test_duration_seconds histogram\n" +
            "test_duration_seconds_bucket{le=\"0.1\"} 1\n" +
            "test_duration_seconds_bucket{le=\"1\"} 2\n" +
            "test_duration_seconds_bucket{le=\"+Inf\"} 3\n" +
            "test_duration_seconds_sum 5.55\n" +
            "test_duration_seconds_count 3\n",
            text,
            StringComparison.Ordinal);
        Assert.Contains("# TYPE test_level gauge\ntest_level 2.5\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE test_queue gauge\ntest_queue 4\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrape_Twice_CountersStayCumulative()
    {
        var meterName = "PrometheusTextTests." + Guid.NewGuid().ToString("N");
        var scraper = new PrometheusScraper();
        using var provider = Sdk.CreateMeterProviderBuilder().AddMeter(meterName).AddReader(scraper.Reader).Build();
        using var meter = new Meter(meterName);
        var counter = meter.CreateCounter<long>("test.hits");
        counter.Add(2);
        _ = scraper.Scrape();
        counter.Add(1);

        var text = scraper.Scrape();

        Assert.Contains("\ntest_hits_total 3\n", "\n" + text, StringComparison.Ordinal);
    }

    [Fact]
    public void Scrape_ProviderDisposed_ReturnsNull()
    {
        var scraper = new PrometheusScraper();
        var provider = Sdk.CreateMeterProviderBuilder().AddMeter("unused").AddReader(scraper.Reader).Build();
        provider.Dispose();

        Assert.Null(scraper.Scrape());
    }
}
