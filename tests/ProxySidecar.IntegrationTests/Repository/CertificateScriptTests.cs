using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ProxySidecar.IntegrationTests.Infrastructure;
using ProxySidecar.Tls;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>A fact that runs only where openssl is installed (the scripts in certs/ need it).</summary>
public sealed class OpenSslFactAttribute : FactAttribute
{
    public OpenSslFactAttribute()
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "openssl")));
        if (!found)
        {
            Skip = "openssl is not installed; certs/dev-cert.sh and certs/rotate.sh need it.";
        }
    }
}

public sealed class CertificateScriptTests
{
    [OpenSslFact]
    public void DevCert_MakesAnEcdsaPairWithTheSansThatTheSidecarLoads()
    {
        using var temp = new TempDirectory();

        Run("certs/dev-cert.sh", "web.test", temp.Path);

        var certificate = CertificateLoader.Load(temp.Combine("tls.crt"), temp.Combine("tls.key"), DateTimeOffset.UtcNow);
        Assert.Equal("CN=web.test", certificate.Subject);
        Assert.Equal(["localhost", "web.test", "127.0.0.1", "::1"], certificate.DnsNames);
        using (var key = certificate.Leaf.GetECDsaPublicKey())
        {
            Assert.NotNull(key);
            Assert.Equal(256, key.KeySize);
        }

        using var ca = X509CertificateLoader.LoadCertificateFromFile(temp.Combine("ca.crt"));
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(certificate.Leaf), "the certificate does not chain to the dev CA");
    }

    [OpenSslFact]
    public void Rotate_TwoRuns_LeaveKubeletsLayoutWithTheNewPair()
    {
        using var temp = new TempDirectory();
        var mount = temp.Combine("tls");
        var environment = new Dictionary<string, string> { ["ROTATE_OUT"] = temp.Combine("out") };

        Run("certs/rotate.sh", environment, mount);
        var first = Thumbprint(Path.Combine(mount, "tls.crt"));
        Run("certs/rotate.sh", environment, mount);

        Assert.Equal("..data/tls.crt", new FileInfo(Path.Combine(mount, "tls.crt")).LinkTarget);
        Assert.Equal("..data/tls.key", new FileInfo(Path.Combine(mount, "tls.key")).LinkTarget);
        var version = new FileInfo(Path.Combine(mount, "..data")).LinkTarget!;
        Assert.Matches(@"^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$", version);
        Assert.Equal([version], Directory.EnumerateDirectories(mount, "..2*").Select(Path.GetFileName));
        Assert.NotEqual(first, Thumbprint(Path.Combine(mount, "tls.crt")));
        CertificateLoader.Load(Path.Combine(mount, "tls.crt"), Path.Combine(mount, "tls.key"), DateTimeOffset.UtcNow);
    }

    private static string Thumbprint(string path)
    {
        using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(path));
        return certificate.GetCertHashString(HashAlgorithmName.SHA256);
    }

    private static void Run(string script, params string[] arguments) => Run(script, new Dictionary<string, string>(), arguments);

    private static void Run(string script, Dictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(RepositoryRoot.Combine(script));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), $"{script} did not finish");
        Assert.True(process.ExitCode == 0, $"{script} failed ({process.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
    }
}
