using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Tls;

namespace ProxySidecar.Tests.Tls;

public sealed class CertificateStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxysidecar-unit", Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private readonly TlsOptions _options;

    public CertificateStoreTests()
    {
        Directory.CreateDirectory(_directory);
        _options = new TlsOptions
        {
            CertificatePath = Path.Combine(_directory, "tls.crt"),
            KeyPath = Path.Combine(_directory, "tls.key"),
        };
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void TryReload_SameBrokenContentOnLaterPolls_ReportedAndCountedOnce()
    {
        var store = StartWith(Pair("CN=first"));
        var failures = 0;
        store.ReloadFailed += _ => failures++;
        var broken = Pair("CN=second");
        Write(broken.Certificate[..40], broken.Key);

        Assert.Equal(ReloadOutcome.Failed, store.TryReload());
        Assert.Equal(ReloadOutcome.Unchanged, store.TryReload());
        Assert.Equal(ReloadOutcome.Unchanged, store.TryReload());

        Assert.Equal(1, failures);
        Assert.Equal(1, store.ReloadsFailed);
        Assert.Equal("CN=first", store.Current!.Subject);
    }

    [Fact]
    public void TryReload_KeyFileMissing_NamesTheKeyFileAndIsReportedOnce()
    {
        var store = StartWith(Pair("CN=first"));
        File.Delete(_options.KeyPath);

        Assert.Equal(ReloadOutcome.Failed, store.TryReload());
        Assert.Equal(ReloadOutcome.Unchanged, store.TryReload());

        Assert.StartsWith(_options.KeyPath + ": ", store.LastReload!.Error, StringComparison.Ordinal);
        Assert.Contains("does not exist", store.LastReload.Error, StringComparison.Ordinal);
        Assert.Equal(1, store.ReloadsFailed);
        Assert.Equal("CN=first", store.Current!.Subject);
    }

    [Fact]
    public void TryReload_FilesBackToTheServedPairAfterAFailure_LastReloadIsNoLongerFailedButLastErrorStays()
    {
        var first = Pair("CN=first");
        var store = StartWith(first);
        File.Delete(_options.KeyPath);
        store.TryReload();

        Write(first.Certificate, first.Key);
        Assert.Equal(ReloadOutcome.Unchanged, store.TryReload());

        Assert.True(store.LastReload!.Succeeded);
        Assert.Equal("unchanged", store.LastReload.Outcome);
        Assert.NotNull(store.LastError);
    }

    [Fact]
    public void TryReload_SameBrokenContentAfterARecovery_IsReportedAgain()
    {
        var first = Pair("CN=first");
        var store = StartWith(first);
        var broken = Pair("CN=second");
        Write(broken.Certificate, first.Key);
        store.TryReload();
        Write(first.Certificate, first.Key);
        store.TryReload();

        Write(broken.Certificate, first.Key);

        Assert.Equal(ReloadOutcome.Failed, store.TryReload());
        Assert.Equal(2, store.ReloadsFailed);
    }

    [Fact]
    public void TryReload_CertificateNotYetValidByTheClock_IsRejectedUntilANewGoodPair()
    {
        var store = StartWith(Pair("CN=first"));
        var future = Pair("CN=future", notBefore: _time.GetUtcNow().AddHours(1));
        Write(future.Certificate, future.Key);

        Assert.Equal(ReloadOutcome.Failed, store.TryReload());
        Assert.Contains("not valid before", store.LastReload!.Error, StringComparison.Ordinal);

        var next = Pair("CN=next");
        Write(next.Certificate, next.Key);
        Assert.Equal(ReloadOutcome.Reloaded, store.TryReload());
        Assert.Equal("CN=next", store.Current!.Subject);
        Assert.Equal(1, store.ReloadsSucceeded);
    }

    [Fact]
    public void TryReload_UnchangedFiles_PublishesNothing()
    {
        var store = StartWith(Pair("CN=first"));
        var before = store.Current;

        Assert.Equal(ReloadOutcome.Unchanged, store.TryReload());

        Assert.Same(before, store.Current);
        Assert.Equal("loaded", store.LastReload!.Outcome);
    }

    [Fact]
    public async Task ReloadService_OneIntervalOfTheClock_PicksUpTheNewPair()
    {
        var store = StartWith(Pair("CN=first"));
        var options = Options.Create(_options);
        var authority = new ClientCertificateAuthority(options, _time, NullLogger<ClientCertificateAuthority>.Instance);
        using var meters = new TestMeterFactory();
        using var service = new CertificateReloadService(store, authority, options, _time, new TlsMetrics(meters), NullLogger<CertificateReloadService>.Instance);
        await service.StartAsync(CancellationToken.None);
        var next = Pair("CN=next");
        Write(next.Certificate, next.Key);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (store.Current!.Subject != "CN=next" && DateTime.UtcNow < deadline)
        {
            _time.Advance(_options.ReloadInterval);
            await Task.Delay(10);
        }

        await service.StopAsync(CancellationToken.None);
        Assert.Equal("CN=next", store.Current!.Subject);
    }

    private CertificateStore StartWith((string Certificate, string Key) pair)
    {
        Write(pair.Certificate, pair.Key);
        var store = new CertificateStore(Options.Create(_options), new Microsoft.Extensions.Hosting.Internal.HostingEnvironment { EnvironmentName = "Production" }, _time, NullLogger<CertificateStore>.Instance);
        store.Initialize();
        return store;
    }

    private void Write(string certificate, string key)
    {
        File.WriteAllText(_options.CertificatePath, certificate);
        File.WriteAllText(_options.KeyPath, key);
    }

    private (string Certificate, string Key) Pair(string subject, DateTimeOffset? notBefore = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var from = notBefore ?? _time.GetUtcNow().AddHours(-1);
        using var certificate = request.CreateSelfSigned(from, from.AddDays(30));
        return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    private sealed class TestMeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        private readonly List<System.Diagnostics.Metrics.Meter> _meters = [];

        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options)
        {
            var meter = new System.Diagnostics.Metrics.Meter(options.Name, options.Version, options.Tags, this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in _meters)
            {
                meter.Dispose();
            }
        }
    }
}
