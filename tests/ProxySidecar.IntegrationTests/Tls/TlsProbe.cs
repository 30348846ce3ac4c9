using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.Telemetry;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>Opens a NEW TLS connection to the sidecar and reports the certificate it was served.</summary>
internal static class TlsProbe
{
    public static async Task<string> ServedThumbprintAsync(SidecarHost sidecar, X509Certificate2 trustedCa)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(sidecar.HttpsAddress.Host, sidecar.HttpsAddress.Port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => SidecarHost.ValidateAgainst(trustedCa, certificate, errors),
        });
        using var served = new X509Certificate2(tls.RemoteCertificate!);
        return served.GetCertHashString(HashAlgorithmName.SHA256);
    }

    /// <summary>Polls new connections until <paramref name="thumbprint"/> is served; returns how long it took.</summary>
    public static async Task<TimeSpan> WaitForServedAsync(SidecarHost sidecar, X509Certificate2 trustedCa, string thumbprint, TimeSpan deadline, DateTime since)
    {
        string last;
        do
        {
            last = await ServedThumbprintAsync(sidecar, trustedCa);
            if (last == thumbprint)
            {
                return DateTime.UtcNow - since;
            }

            await Task.Delay(20);
        }
        while (DateTime.UtcNow - since < deadline);

        throw new TimeoutException($"New connections still got {last} {deadline.TotalMilliseconds} ms after the swap, not {thumbprint}.");
    }
}

/// <summary>Counts <c>proxysidecar.tls.certificate.reloads</c> of one sidecar, by outcome and certificate.</summary>
internal sealed class ReloadCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    public ReloadCounter(SidecarHost sidecar)
    {
        var factory = sidecar.Services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Meter.Name == SidecarTelemetry.MeterName
                && instrument.Name == SidecarTelemetry.Instruments.CertificateReloads)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? outcome = null;
            string? certificate = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "outcome")
                {
                    outcome = tag.Value as string;
                }
                else if (tag.Key == "certificate")
                {
                    certificate = tag.Value as string;
                }
            }

            lock (_counts)
            {
                var key = $"{certificate}/{outcome}";
                _counts[key] = _counts.GetValueOrDefault(key) + value;
            }
        });
        _listener.Start();
    }

    public long Get(string outcome, string certificate = "server")
    {
        lock (_counts)
        {
            return _counts.GetValueOrDefault($"{certificate}/{outcome}");
        }
    }

    public void Dispose() => _listener.Dispose();
}
