using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Tls;

namespace ProxySidecar.Tests.Tls;

public sealed class ClientCertificateAuthorityTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxysidecar-unit", Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    public ClientCertificateAuthorityTests() => Directory.CreateDirectory(_directory);

    private string CaPath => Path.Combine(_directory, "ca.crt");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void TryReload_BundleWithoutCertificates_KeepsTheLastGoodBundleAndReportsOnce()
    {
        var authority = StartWith(CaPem("CN=First CA"));
        File.WriteAllText(CaPath, "-----BEGIN CERTIFICATE-----\nMIIB");

        Assert.Equal(ReloadOutcome.Failed, authority.TryReload());
        Assert.Equal(ReloadOutcome.Unchanged, authority.TryReload());

        Assert.Equal(["CN=First CA"], authority.Current!.Subjects);
        Assert.StartsWith(CaPath + ": ", authority.LastReload!.Error, StringComparison.Ordinal);
        Assert.Equal(1, authority.ReloadsFailed);
    }

    [Fact]
    public void TryReload_NewBundle_IsPublished()
    {
        var authority = StartWith(CaPem("CN=First CA"));
        File.WriteAllText(CaPath, CaPem("CN=Second CA") + CaPem("CN=Third CA"));

        Assert.Equal(ReloadOutcome.Reloaded, authority.TryReload());

        Assert.Equal(["CN=Second CA", "CN=Third CA"], authority.Current!.Subjects);
    }

    [Fact]
    public void Initialize_ModeNone_LoadsNothing()
    {
        var authority = new ClientCertificateAuthority(Options.Create(new TlsOptions()), _time, NullLogger<ClientCertificateAuthority>.Instance);

        authority.Initialize();

        Assert.Null(authority.Current);
        Assert.Equal(ReloadOutcome.Unchanged, authority.TryReload());
    }

    [Fact]
    public void Initialize_MissingBundle_StopsStartUpNamingTheSetting()
    {
        var options = new TlsOptions { ClientCertificate = { Mode = ClientCertificateMode.Require, CaPath = CaPath } };
        var authority = new ClientCertificateAuthority(Options.Create(options), _time, NullLogger<ClientCertificateAuthority>.Instance);

        var error = Assert.Throws<SidecarStartupException>(authority.Initialize);

        Assert.StartsWith("Sidecar:Tls:ClientCertificate:CaPath", error.Message, StringComparison.Ordinal);
        Assert.Contains(CaPath, error.Message, StringComparison.Ordinal);
    }

    private ClientCertificateAuthority StartWith(string pem)
    {
        File.WriteAllText(CaPath, pem);
        var options = new TlsOptions { ClientCertificate = { Mode = ClientCertificateMode.Require, CaPath = CaPath } };
        var authority = new ClientCertificateAuthority(Options.Create(options), _time, NullLogger<ClientCertificateAuthority>.Instance);
        authority.Initialize();
        return authority;
    }

    private string CaPem(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var certificate = request.CreateSelfSigned(_time.GetUtcNow().AddDays(-1), _time.GetUtcNow().AddYears(1));
        return certificate.ExportCertificatePem() + "\n";
    }
}
