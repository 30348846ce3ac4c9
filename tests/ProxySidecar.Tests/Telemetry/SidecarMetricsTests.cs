using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Configuration;
using ProxySidecar.Proxy;
using ProxySidecar.Telemetry;
using ProxySidecar.Tls;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Tests.Telemetry;

public sealed class SidecarMetricsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly CertificateStore _certificates;
    private readonly UpstreamHealth _upstream;
    private readonly SidecarMetrics _metrics;

    public SidecarMetricsTests()
    {
        _certificates = new CertificateStore(Options.Create(new TlsOptions()), new Environment(), _time, NullLogger<CertificateStore>.Instance);
        _upstream = new UpstreamHealth(_time);
        _metrics = new SidecarMetrics(
            _services.GetRequiredService<IMeterFactory>(),
            _certificates,
            _upstream,
            new LastGoodOptions<UpstreamOptions>(new StaticOptionsMonitor<UpstreamOptions>(new UpstreamOptions { ProbeInterval = TimeSpan.FromSeconds(5) })));
    }

    [Fact]
    public void CertificateNotAfter_CertificateLoaded_IsItsNotAfterInUnixSeconds()
    {
        var notAfter = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        _certificates.Publish(CreateCertificate(notAfter), "loaded");

        var measured = Observe(SidecarTelemetry.Instruments.CertificateNotAfter);

        Assert.Equal([notAfter.ToUnixTimeSeconds()], measured);
    }

    [Fact]
    public void CertificateNotAfter_NoCertificateYet_ReportsNothing() =>
        Assert.Empty(Observe(SidecarTelemetry.Instruments.CertificateNotAfter));

    [Fact]
    public void UpstreamUp_FollowsReadinessWindowOfThreeProbeIntervals()
    {
        Assert.Equal([0], Observe(SidecarTelemetry.Instruments.UpstreamUp));

        _upstream.RecordProbe(true, "TCP connect succeeded");
        Assert.Equal([1], Observe(SidecarTelemetry.Instruments.UpstreamUp));

        _time.Advance(TimeSpan.FromSeconds(15));
        Assert.Equal([1], Observe(SidecarTelemetry.Instruments.UpstreamUp));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([0], Observe(SidecarTelemetry.Instruments.UpstreamUp));
    }

    [Fact]
    public void ForwarderFailed_CountsOnePerErrorWithItsName()
    {
        var counted = new List<(long Value, string? Error)>();
        using var listener = Listen(SidecarTelemetry.Instruments.ForwarderErrors);
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            counted.Add((value, tags.ToArray().Single(t => t.Key == "error").Value as string)));
        listener.Start();

        _metrics.ForwarderFailed(ForwarderError.Request);
        _metrics.ForwarderFailed(ForwarderError.RequestTimedOut);

        Assert.Equal([(1L, "Request"), (1L, "RequestTimedOut")], counted);
    }

    public void Dispose() => _services.Dispose();

    private List<long> Observe(string instrument)
    {
        var values = new List<long>();
        using var listener = Listen(instrument);
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => values.Add(value));
        listener.SetMeasurementEventCallback<int>((_, value, _, _) => values.Add(value));
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }

    private MeterListener Listen(string instrument)
    {
        var factory = _services.GetRequiredService<IMeterFactory>();
        return new MeterListener
        {
            InstrumentPublished = (published, listener) =>
            {
                if (published.Meter.Scope == factory && published.Name == instrument)
                {
                    listener.EnableMeasurementEvents(published);
                }
            },
        };
    }

    private static ServerCertificate CreateCertificate(DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(notAfter.AddDays(-30), notAfter);
        return CertificateLoader.Load(certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), "tls.crt", "tls.key", notAfter.AddDays(-1));
    }

    private sealed class Environment : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Production";

        public string ApplicationName { get; set; } = "ProxySidecar";

        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;

        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}

/// <summary>An options monitor whose value never changes.</summary>
internal sealed class StaticOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
