using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// A test CA, a certificate for localhost written as PEM files, a recording app and a sidecar in front
/// of it: the usual arrangement of an integration test, started and disposed as one.
/// </summary>
public sealed class SidecarSetup : IAsyncDisposable
{
    private readonly SidecarRig _rig;

    private SidecarSetup(SidecarRig rig, TestUpstream upstream)
    {
        _rig = rig;
        Upstream = upstream;
    }

    public TempDirectory Temp => _rig.Temp;

    public TestCertificateAuthority Ca => _rig.Ca;

    public IssuedCertificate Issued => _rig.Issued;

    public string CertificatePath => _rig.CertificatePath;

    public string KeyPath => _rig.KeyPath;

    public TestUpstream Upstream { get; }

    public SidecarHost Sidecar { get; private set; } = null!;

    public X509Certificate2 TrustedCa => _rig.TrustedCa;

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
        var rig = SidecarRig.Create(certificateNotAfter: certificateNotAfter);
        upstream ??= await TestUpstream.StartAsync(http2Upstream);
        var stack = new SidecarSetup(rig, upstream);
        try
        {
            stack.Sidecar = await SidecarHost.StartAsync(rig.Settings(upstream.Address, settings), rig.TrustedCa, environment, configureServices);
        }
        catch
        {
            await upstream.DisposeAsync();
            rig.Dispose();
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
        _rig.Dispose();
    }
}
