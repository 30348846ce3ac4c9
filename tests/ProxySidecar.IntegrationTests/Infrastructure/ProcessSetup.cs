using System.Net;
using System.Net.Security;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// The real binary with a test certificate, free loopback ports and an upstream address, configured by
/// environment variables as in a pod.
/// </summary>
public sealed class ProcessSetup : IDisposable
{
    private ProcessSetup(TempDirectory temp, TestCertificateAuthority ca, int httpsPort, int adminPort, SidecarProcess process)
    {
        Temp = temp;
        Ca = ca;
        HttpsPort = httpsPort;
        AdminPort = adminPort;
        Process = process;
    }

    public TempDirectory Temp { get; }

    public TestCertificateAuthority Ca { get; }

    public int HttpsPort { get; }

    public int AdminPort { get; }

    public SidecarProcess Process { get; }

    /// <summary>Starts the binary; <paramref name="environment"/> adds to or overrides the defaults (a null value removes one).</summary>
    public static ProcessSetup Start(
        Uri upstream,
        IDictionary<string, string?>? environment = null,
        string aspnetEnvironment = "Production",
        IReadOnlyList<string>? commandPrefix = null,
        string? workingDirectory = null)
    {
        var temp = new TempDirectory();
        var ca = new TestCertificateAuthority();
        var (certificatePath, keyPath) = ca.Issue().WriteTo(temp.Combine("tls"));
        var httpsPort = FreePort.Next();
        var adminPort = FreePort.Next();
        var all = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Sidecar__Hosting__HttpsPort"] = httpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sidecar__Hosting__AdminPort"] = adminPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sidecar__Hosting__ListenAddress"] = "127.0.0.1",
            ["Sidecar__Hosting__AdminListenAddress"] = "127.0.0.1",
            ["Sidecar__Upstream__Address"] = upstream.ToString(),
            ["Sidecar__Tls__CertificatePath"] = certificatePath,
            ["Sidecar__Tls__KeyPath"] = keyPath,
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var process = SidecarProcess.Start(all.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!), aspnetEnvironment, commandPrefix, workingDirectory);
        return new ProcessSetup(temp, ca, httpsPort, adminPort, process);
    }

    /// <summary>
    /// A client for the public port trusting the test CA. Without <paramref name="propagateTraceContext"/>
    /// it injects no trace headers of its own, so a test sends exactly the traceparent it sets.
    /// </summary>
    public HttpClient CreateClient(bool propagateTraceContext = true) =>
        new(new SocketsHttpHandler
        {
            UseProxy = false,
            ActivityHeadersPropagator = propagateTraceContext ? System.Diagnostics.DistributedContextPropagator.Current : null,
            SslOptions = new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, errors) => SidecarHost.ValidateAgainst(Ca.Certificate, certificate, errors),
            },
        })
        {
            BaseAddress = new Uri($"https://127.0.0.1:{HttpsPort}/"),
            Timeout = TimeSpan.FromSeconds(30),
        };

    public HttpClient CreateAdminClient() =>
        new(new SocketsHttpHandler { UseProxy = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{AdminPort}/"),
            Timeout = TimeSpan.FromSeconds(10),
        };

    /// <summary>Polls /healthz/ready until it answers <paramref name="expected"/>; fails if the process exits first.</summary>
    public async Task WaitForReadinessAsync(HttpStatusCode expected = HttpStatusCode.OK, TimeSpan? timeout = null)
    {
        using var admin = CreateAdminClient();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        var last = "no answer";
        while (DateTime.UtcNow < deadline && !Process.HasExited)
        {
            try
            {
                using var response = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
                if (response.StatusCode == expected)
                {
                    return;
                }

                last = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (HttpRequestException error)
            {
                last = error.Message;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"Readiness never became {expected} (last: {last}). stdout:\n{Process.Stdout}\nstderr:\n{Process.Stderr}");
    }

    public void Dispose()
    {
        Process.Dispose();
        Ca.Dispose();
        Temp.Dispose();
    }
}
