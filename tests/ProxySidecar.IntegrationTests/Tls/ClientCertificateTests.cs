using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>Mutual TLS: client certificates are checked against the configured CA only, and a verified one reaches the app in X-Forwarded-Client-Cert.</summary>
public sealed class ClientCertificateTests : IAsyncLifetime, IDisposable
{
    private const string Header = "X-Forwarded-Client-Cert";

    private readonly SidecarRig _rig = SidecarRig.Create();
    private readonly TestCertificateAuthority _clientCa = new("ProxySidecar Test Client CA");
    private readonly TestCertificateAuthority _otherCa = new("Some Other CA");
    private TestUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await TestUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    public void Dispose()
    {
        _otherCa.Dispose();
        _clientCa.Dispose();
        _rig.Dispose();
    }

    [Fact]
    public async Task Require_NoClientCertificate_HandshakeFailsAndNothingReachesTheApp()
    {
        await using var sidecar = await StartAsync("Require");
        using var client = sidecar.CreateClient();

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/private", UriKind.Relative)));
        Assert.Equal(0, _upstream.Count);
    }

    [Fact]
    public async Task Require_CertificateFromAnotherCa_HandshakeFailsAndNothingReachesTheApp()
    {
        await using var sidecar = await StartAsync("Require");
        using var certificate = _otherCa.Issue("intruder", clientAuth: true).ToX509();
        using var client = sidecar.CreateClient(configureTls: tls => tls.ClientCertificates = [certificate]);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/private", UriKind.Relative)));
        Assert.Equal(0, _upstream.Count);
    }

    [Fact]
    public async Task Require_VerifiedCertificate_AppGetsOneHeaderWithHashAndSubjectNotTheClientsCopy()
    {
        await using var sidecar = await StartAsync("Require");
        using var certificate = _clientCa.Issue("billing-service", clientAuth: true).ToX509();
        using var client = sidecar.CreateClient(configureTls: tls => tls.ClientCertificates = [certificate]);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/private", UriKind.Relative));
        request.Headers.TryAddWithoutValidation(Header, "Hash=0000;Subject=\"CN=admin\"");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(_upstream.Received);
        var value = Assert.Single(received.Headers[Header]);
        var hash = Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
        Assert.Equal($"Hash={hash};Subject=\"CN=billing-service\"", value);
    }

    [Fact]
    public async Task Allow_NoClientCertificate_RequestIsServedAndClientSentHeaderIsRemoved()
    {
        await using var sidecar = await StartAsync("Allow");
        using var client = sidecar.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/open", UriKind.Relative));
        request.Headers.TryAddWithoutValidation(Header, "Hash=0000;Subject=\"CN=admin\"");

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(_upstream.Received);
        Assert.False(received.Headers.ContainsKey(Header), "a client-sent X-Forwarded-Client-Cert reached the app");
    }

    [Fact]
    public async Task Allow_VerifiedCertificate_AppGetsTheHeader()
    {
        await using var sidecar = await StartAsync("Allow");
        using var certificate = _clientCa.Issue("reporting", clientAuth: true).ToX509();
        using var client = sidecar.CreateClient(configureTls: tls => tls.ClientCertificates = [certificate]);

        using var response = await client.GetAsync(new Uri("/open", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var value = Assert.Single(Assert.Single(_upstream.Received).Headers[Header]);
        Assert.Contains("Subject=\"CN=reporting\"", value, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Allow_CertificateFromAnotherCa_HandshakeFails()
    {
        await using var sidecar = await StartAsync("Allow");
        using var certificate = _otherCa.Issue("intruder", clientAuth: true).ToX509();
        using var client = sidecar.CreateClient(configureTls: tls => tls.ClientCertificates = [certificate]);

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("/open", UriKind.Relative)));
        Assert.Equal(0, _upstream.Count);
    }

    [Fact]
    public async Task Require_CaBundleRotatedToAnotherCa_NewConnectionsAreCheckedAgainstTheNewBundle()
    {
        await using var sidecar = await StartAsync("Require");
        using var fromOther = _otherCa.Issue("moved", clientAuth: true).ToX509();

        File.WriteAllText(_rig.Temp.Combine("client-ca", "ca.crt"), _otherCa.Certificate.ExportCertificatePem());
        await sidecar.WaitForStatusAsync(s => s["clientCertificates"]?["lastReload"]?["result"]?.GetValue<string>() == "reloaded");

        using var client = sidecar.CreateClient(configureTls: tls => tls.ClientCertificates = [fromOther]);
        using var response = await client.GetAsync(new Uri("/private", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private Task<SidecarHost> StartAsync(string mode)
    {
        var caPath = _rig.Temp.Combine("client-ca", "ca.crt");
        Directory.CreateDirectory(Path.GetDirectoryName(caPath)!);
        File.WriteAllText(caPath, _clientCa.Certificate.ExportCertificatePem());
        return SidecarHost.StartAsync(
            _rig.Settings(_upstream.Address, new Dictionary<string, string?>
            {
                ["Sidecar:Tls:ReloadInterval"] = "00:00:00.2",
                ["Sidecar:Tls:ClientCertificate:Mode"] = mode,
                ["Sidecar:Tls:ClientCertificate:CaPath"] = caPath,
            }),
            _rig.TrustedCa);
    }
}
