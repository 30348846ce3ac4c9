using System.Net;
using System.Net.Security;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// The real binary with a test certificate, free loopback ports and an upstream address, configured by
/// environment variables as in a pod.
/// </summary>
public sealed class ProcessSetup : IDisposable
{
    private readonly SidecarRig _rig;

    private ProcessSetup(SidecarRig rig, int httpsPort, int adminPort, SidecarProcess process)
    {
        _rig = rig;
        HttpsPort = httpsPort;
        AdminPort = adminPort;
        Process = process;
    }

    public TempDirectory Temp => _rig.Temp;

    public TestCertificateAuthority Ca => _rig.Ca;

    public int HttpsPort { get; }

    public int AdminPort { get; }

    public SidecarProcess Process { get; }

    /// <summary>
    /// Starts the binary with the rig's base settings as environment variables (a process cannot report the ports it
    /// bound, so they are free ports picked here); <paramref name="environment"/> adds to or overrides them (a null
    /// value removes one).
    /// </summary>
    public static ProcessSetup Start(
        Uri upstream,
        IDictionary<string, string?>? environment = null,
        string aspnetEnvironment = "Production",
        IReadOnlyList<string>? commandPrefix = null,
        string? workingDirectory = null)
    {
        var rig = SidecarRig.Create();
        var httpsPort = FreePort.Next();
        var adminPort = FreePort.Next();
        var all = SidecarRig.AsEnvironment(rig.Settings(upstream, new Dictionary<string, string?>
        {
            ["Sidecar:Hosting:HttpsPort"] = httpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sidecar:Hosting:AdminPort"] = adminPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }));
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var process = SidecarProcess.Start(all.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!), aspnetEnvironment, commandPrefix, workingDirectory);
        return new ProcessSetup(rig, httpsPort, adminPort, process);
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
        _rig.Dispose();
    }
}
