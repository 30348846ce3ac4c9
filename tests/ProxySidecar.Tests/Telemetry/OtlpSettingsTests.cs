using Microsoft.Extensions.Configuration;
using OpenTelemetry.Exporter;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Tests.Telemetry;

public sealed class OtlpSettingsTests
{
    private static OtlpSettings Read(params (string Key, string Value)[] values) =>
        OtlpSettings.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build());

    [Fact]
    public void Read_NothingSet_ExportsNothing()
    {
        var settings = Read();

        Assert.False(settings.Traces);
        Assert.False(settings.Metrics);
        Assert.False(settings.Logs);
        Assert.False(settings.Any);
    }

    [Fact]
    public void Read_GeneralEndpoint_ExportsEverySignal()
    {
        var settings = Read(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"));

        Assert.True(settings.Traces);
        Assert.True(settings.Metrics);
        Assert.True(settings.Logs);
    }

    [Fact]
    public void Read_OnlyTracesEndpoint_ExportsOnlyTraces()
    {
        var settings = Read(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"));

        Assert.True(settings.Traces);
        Assert.False(settings.Metrics);
        Assert.False(settings.Logs);
    }

    [Fact]
    public void Read_SignalExporterNone_SwitchesThatSignalOff()
    {
        var settings = Read(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("OTEL_LOGS_EXPORTER", "none"), ("OTEL_METRICS_EXPORTER", "otlp"));

        Assert.True(settings.Traces);
        Assert.True(settings.Metrics);
        Assert.False(settings.Logs);
    }

    [Fact]
    public void Read_SdkDisabled_ExportsNothing()
    {
        var settings = Read(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("OTEL_SDK_DISABLED", "true"));

        Assert.False(settings.Any);
    }

    [Fact]
    public void Read_EndpointWithoutScheme_FailsNamingTheVariableAndTheFix()
    {
        var error = Assert.Throws<SidecarStartupException>(() => Read(("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"), ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json")));

        Assert.Contains("OTEL_EXPORTER_OTLP_ENDPOINT: \"collector:4317\" is not an http:// or https:// URL", error.Message, StringComparison.Ordinal);
        Assert.Contains("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: \"http/json\" is not supported. Use grpc or http/protobuf.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ApplySignalOverrides_SignalSpecificValues_WinAndEndpointIsUsedAsGiven()
    {
        var settings = Read(
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://metrics:4318/custom/path"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "api-key=1"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2500"));
        var metrics = new OtlpExporterOptions();
        var traces = new OtlpExporterOptions { Endpoint = new Uri("http://unchanged:4317") };

        settings.ApplySignalOverrides(TelemetrySignal.Metrics, metrics);
        settings.ApplySignalOverrides(TelemetrySignal.Traces, traces);

        Assert.Equal(new Uri("http://metrics:4318/custom/path"), metrics.Endpoint);
        Assert.Equal(OtlpExportProtocol.HttpProtobuf, metrics.Protocol);
        Assert.Equal("api-key=1", metrics.Headers);
        Assert.Equal(2500, metrics.TimeoutMilliseconds);
        Assert.Equal(new Uri("http://unchanged:4317"), traces.Endpoint);
    }
}
