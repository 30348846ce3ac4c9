using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// A test CA, a certificate for localhost written as PEM files, a recording app and a sidecar in front
/// of it: the usual arrangement of an integration test, started and disposed as one.
/// </summary>
public sealed class SidecarSetup : IAsyncDisposable
{
    private SidecarSetup(TempDirectory temp, TestCertificateAuthority ca, IssuedCertificate issued, string certificatePath, string keyPath, TestUpstream upstream)
    {
        Temp = temp;
        Ca = ca;
        Issued = issued;
        CertificatePath = certificatePath;
        KeyPath = keyPath;
        Upstream = upstream;
    }

    public TempDirectory Temp { get; }

    public TestCertificateAuthority Ca { get; }

    public IssuedCertificate Issued { get; }

    public string CertificatePath { get; }

    public string KeyPath { get; }

    public TestUpstream Upstream { get; }

    public SidecarHost Sidecar { get; private set; } = null!;

    public X509Certificate2 TrustedCa => Ca.Certificate;

    /// <summary>
    /// Starts the app and the sidecar. <paramref name="settings"/> are added to (and may override) the
    /// upstream address and certificate paths; a null value removes a key. A given
    /// <paramref name="upstream"/> is used instead of a new one, and disposed with the setup.
    /// </summary>
    public static async Task<SidecarSetup> StartAsync(
        IDictionary<string, string?>? settings = null,
        bool http2Upstream = false,
        Action<IServiceCollection>? configureServices = null,
        string environment = "Production",
        DateTimeOffset? certificateNotAfter = null,
        TestUpstream? upstream = null)
    {
        var temp = new TempDirectory();
        var ca = new TestCertificateAuthority();
        var issued = ca.Issue(notAfter: certificateNotAfter);
        var (certificatePath, keyPath) = issued.WriteTo(temp.Combine("tls"));
        upstream ??= await TestUpstream.StartAsync(http2Upstream);
        var stack = new SidecarSetup(temp, ca, issued, certificatePath, keyPath, upstream);
        var all = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Sidecar:Upstream:Address"] = upstream.Address.ToString(),
            ["Sidecar:Tls:CertificatePath"] = certificatePath,
            ["Sidecar:Tls:KeyPath"] = keyPath,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        try
        {
            stack.Sidecar = await SidecarHost.StartAsync(all, ca.Certificate, environment, configureServices);
        }
        catch
        {
            await upstream.DisposeAsync();
            ca.Dispose();
            temp.Dispose();
            throw;
        }

        return stack;
    }

    public HttpClient CreateClient(Version? version = null) => Sidecar.CreateClient(version);

    public async ValueTask DisposeAsync()
    {
        if (Sidecar is not null)
        {
            await Sidecar.DisposeAsync();
        }

        await Upstream.DisposeAsync();
        Ca.Dispose();
        Temp.Dispose();
    }
}
