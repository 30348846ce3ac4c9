using System.Security.Cryptography.X509Certificates;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// What every sidecar of a test starts from, made in one place: a test CA, a server certificate it issued written as
/// PEM files (as a kubernetes.io/tls secret holds them), and the base settings (listeners on 127.0.0.1, the certificate,
/// the upstream). The in-process rig (<see cref="SidecarSetup"/>, <see cref="SidecarHost"/>), the process rig
/// (<see cref="ProcessSetup"/>) and the replicas of a shared-cache cluster all start from it.
/// </summary>
public sealed class SidecarRig : IDisposable
{
    private SidecarRig(TempDirectory temp, TestCertificateAuthority ca, IssuedCertificate issued, string certificatePath, string keyPath)
    {
        Temp = temp;
        Ca = ca;
        Issued = issued;
        CertificatePath = certificatePath;
        KeyPath = keyPath;
    }

    public TempDirectory Temp { get; }

    public TestCertificateAuthority Ca { get; }

    public IssuedCertificate Issued { get; }

    /// <summary>tls.crt: the leaf, then the CA.</summary>
    public string CertificatePath { get; }

    /// <summary>tls.key.</summary>
    public string KeyPath { get; }

    /// <summary>The CA a client of these sidecars trusts.</summary>
    public X509Certificate2 TrustedCa => Ca.Certificate;

    /// <summary>
    /// A new temp directory, CA and certificate for <paramref name="commonName"/> (its names always include localhost
    /// and 127.0.0.1), written to tls/tls.crt and tls/tls.key.
    /// </summary>
    public static SidecarRig Create(string commonName = "localhost", DateTimeOffset? certificateNotAfter = null)
    {
        var temp = new TempDirectory();
        var ca = new TestCertificateAuthority();
        var issued = ca.Issue(commonName, notAfter: certificateNotAfter);
        var (certificatePath, keyPath) = issued.WriteTo(temp.Combine("tls"));
        return new SidecarRig(temp, ca, issued, certificatePath, keyPath);
    }

    /// <summary>Listeners on 127.0.0.1 with ports picked by the OS: what every sidecar of a test starts from.</summary>
    public static Dictionary<string, string?> Listeners() => new(StringComparer.OrdinalIgnoreCase)
    {
        ["Sidecar:Hosting:HttpsPort"] = "0",
        ["Sidecar:Hosting:AdminPort"] = "0",
        ["Sidecar:Hosting:ListenAddress"] = "127.0.0.1",
        ["Sidecar:Hosting:AdminListenAddress"] = "127.0.0.1",
    };

    /// <summary>
    /// The base settings: <see cref="Listeners"/>, this rig's certificate and <paramref name="upstream"/>, then
    /// <paramref name="overrides"/> (a null value removes a key).
    /// </summary>
    public Dictionary<string, string?> Settings(Uri? upstream, IDictionary<string, string?>? overrides = null)
    {
        var settings = Listeners();
        settings["Sidecar:Tls:CertificatePath"] = CertificatePath;
        settings["Sidecar:Tls:KeyPath"] = KeyPath;
        if (upstream is not null)
        {
            settings["Sidecar:Upstream:Address"] = upstream.ToString();
        }

        return Merge(settings, overrides);
    }

    /// <summary><paramref name="settings"/> with <paramref name="overrides"/> applied (keys ignore case).</summary>
    public static Dictionary<string, string?> Merge(IDictionary<string, string?> settings, IDictionary<string, string?>? overrides)
    {
        var all = new Dictionary<string, string?>(settings, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        return all;
    }

    /// <summary>Settings as the environment of a process (Sidecar:Hosting:HttpsPort → Sidecar__Hosting__HttpsPort).</summary>
    public static Dictionary<string, string?> AsEnvironment(IDictionary<string, string?> settings) =>
        settings.ToDictionary(kv => kv.Key.Replace(":", "__", StringComparison.Ordinal), kv => kv.Value, StringComparer.Ordinal);

    public void Dispose()
    {
        Ca.Dispose();
        Temp.Dispose();
    }
}
