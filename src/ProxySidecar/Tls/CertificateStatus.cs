using System.Text.Json.Nodes;
using ProxySidecar.Admin;

namespace ProxySidecar.Tls;

/// <summary>The "certificate" section of /status, and readiness: not ready without a certificate.</summary>
internal sealed class CertificateStatus(CertificateStore certificates) : IStatusContributor, IReadinessCheck
{
    public string Name => "certificate";

    public string? NotReadyReason() => certificates.Current is null ? "no TLS certificate loaded" : null;

    public object? GetStatus()
    {
        var certificate = certificates.Current;
        if (certificate is null)
        {
            return null;
        }

        var reload = certificates.LastReload;
        var reloadError = certificates.LastError;
        return new JsonObject
        {
            ["subject"] = certificate.Subject,
            ["dnsNames"] = new JsonArray(certificate.DnsNames.Select(n => (JsonNode?)n).ToArray()),
            ["thumbprintSha256"] = certificate.Thumbprint,
            ["notBefore"] = certificate.NotBefore,
            ["notAfter"] = certificate.NotAfter,
            ["source"] = certificate.Source,
            ["lastReload"] = reload is null ? null : new JsonObject
            {
                ["at"] = reload.At,
                ["result"] = reload.Outcome,
                ["error"] = reload.Error,
            },
            ["lastError"] = reloadError is null ? null : new JsonObject
            {
                ["at"] = reloadError.At,
                ["error"] = reloadError.Error,
            },
            ["reloads"] = new JsonObject
            {
                ["succeeded"] = certificates.ReloadsSucceeded,
                ["failed"] = certificates.ReloadsFailed,
            },
        };
    }
}
