using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// A certificate authority made in the test, and server certificates it signs, written as PEM files
/// the way a kubernetes.io/tls secret holds them. No key ever leaves the temp directory.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key;

    public TestCertificateAuthority(string name = "ProxySidecar Test CA")
    {
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Issues a leaf for localhost/127.0.0.1 (server or client auth).</summary>
    public IssuedCertificate Issue(
        string commonName = "localhost",
        DateTimeOffset? notBefore = null,
        DateTimeOffset? notAfter = null,
        bool clientAuth = false,
        bool rsa = false)
    {
        using var rsaKey = rsa ? RSA.Create(2048) : null;
        using var ecKey = rsa ? null : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = rsa
            ? new CertificateRequest($"CN={commonName}", rsaKey!, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest($"CN={commonName}", ecKey!, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddDnsName(commonName);
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(clientAuth ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var issued = request.Create(
            Certificate.SubjectName,
            X509SignatureGenerator.CreateForECDsa(_key),
            notBefore ?? DateTimeOffset.UtcNow.AddHours(-1),
            notAfter ?? DateTimeOffset.UtcNow.AddDays(30),
            serial);
        var keyPem = rsa ? rsaKey!.ExportPkcs8PrivateKeyPem() : ecKey!.ExportPkcs8PrivateKeyPem();
        var certificatePem = issued.ExportCertificatePem();
        return new IssuedCertificate(certificatePem, keyPem, Certificate.ExportCertificatePem());
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}

/// <summary>A leaf certificate and its key as PEM text.</summary>
public sealed record IssuedCertificate(string CertificatePem, string KeyPem, string IssuerPem)
{
    /// <summary>Leaf then issuer, as cert-manager writes tls.crt.</summary>
    public string ChainPem => CertificatePem.TrimEnd() + "\n" + IssuerPem.TrimEnd() + "\n";

    public X509Certificate2 ToX509() => X509Certificate2.CreateFromPem(CertificatePem, KeyPem);

    public string Thumbprint
    {
        get
        {
            using var certificate = X509Certificate2.CreateFromPem(CertificatePem);
            return certificate.GetCertHashString(HashAlgorithmName.SHA256);
        }
    }

    /// <summary>Writes tls.crt (the chain) and tls.key into <paramref name="directory"/>.</summary>
    public (string CertificatePath, string KeyPath) WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        var certificatePath = Path.Combine(directory, "tls.crt");
        var keyPath = Path.Combine(directory, "tls.key");
        File.WriteAllText(certificatePath, ChainPem);
        File.WriteAllText(keyPath, KeyPem.TrimEnd() + "\n");
        return (certificatePath, keyPath);
    }
}

/// <summary>A temp directory removed at the end of the test.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "proxysidecar-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
