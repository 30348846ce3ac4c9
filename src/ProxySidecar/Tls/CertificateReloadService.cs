using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Tls;

/// <summary>
/// Polls the certificate files (and the client CA bundle) every <see cref="TlsOptions.ReloadInterval"/>.
/// Kubelet updates a secret mount by swapping the <c>..data</c> symlink, which file watchers on
/// <c>tls.crt</c> never see, so the content is compared instead.
/// </summary>
internal sealed class CertificateReloadService(
    CertificateStore certificates,
    ClientCertificateAuthority clientCa,
    IOptions<TlsOptions> options,
    TimeProvider time,
    TlsMetrics metrics,
    ILogger<CertificateReloadService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.ReloadInterval;
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Poll(interval);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
    }

    /// <summary>One poll of both file sets; never throws, so one bad poll cannot stop the host.</summary>
    internal void Poll(TimeSpan interval)
    {
        metrics.Record(TlsMetrics.ServerCertificate, Guard(certificates.TryReload, interval));
        metrics.Record(TlsMetrics.ClientCa, Guard(clientCa.TryReload, interval));
    }

    private ReloadOutcome Guard(Func<ReloadOutcome> reload, TimeSpan interval)
    {
        try
        {
            return reload();
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            TlsLog.PollFailed(logger, error, interval);
            return ReloadOutcome.Failed;
        }
    }
}

/// <summary>The TLS feature's instruments: reloads by outcome, and the serving certificate's expiry.</summary>
internal sealed class TlsMetrics
{
    public const string ServerCertificate = "server";
    public const string ClientCa = "client_ca";

    private static readonly KeyValuePair<string, object?>[] ServerSuccess = Tags("success", ServerCertificate);
    private static readonly KeyValuePair<string, object?>[] ServerFailure = Tags("failure", ServerCertificate);
    private static readonly KeyValuePair<string, object?>[] CaSuccess = Tags("success", ClientCa);
    private static readonly KeyValuePair<string, object?>[] CaFailure = Tags("failure", ClientCa);

    private readonly Counter<long> _reloads;

    public TlsMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(SidecarTelemetry.MeterName);
        _reloads = meter.CreateCounter<long>(
            SidecarTelemetry.Instruments.CertificateReloads,
            unit: "{reload}",
            description: "Certificate reloads that published a new pair (success) or rejected new content (failure).");
        // The not-after gauge lives with the other observed gauges in Telemetry/SidecarMetrics.cs.
    }

    public void Record(string certificate, ReloadOutcome outcome)
    {
        switch (outcome)
        {
            case ReloadOutcome.Reloaded:
                _reloads.Add(1, certificate == ClientCa ? CaSuccess : ServerSuccess);
                break;
            case ReloadOutcome.Failed:
                _reloads.Add(1, certificate == ClientCa ? CaFailure : ServerFailure);
                break;
            default:
                break;
        }
    }

    private static KeyValuePair<string, object?>[] Tags(string outcome, string certificate) =>
        [new("outcome", outcome), new("certificate", certificate)];
}
