using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ProxySidecar.Tls;

/// <summary>A throw-away self-signed certificate for localhost, used only in the Development environment.</summary>
internal static class DevelopmentCertificate
{
    /// <summary>The <see cref="ServerCertificate.Source"/> of a generated certificate.</summary>
    public const string Source = "generated";

    public static ServerCertificate Create(DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost, O=ProxySidecar development", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(30));
        var certificatePem = certificate.ExportCertificatePem();
        var keyPem = key.ExportPkcs8PrivateKeyPem();
        var leaf = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        return new ServerCertificate(leaf, [], Source, CertificateLoader.Hash(certificatePem, keyPem));
    }
}
