using System.Net;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>Strict-Transport-Security on HTTPS responses, and the plain-HTTP port that redirects to HTTPS.</summary>
public sealed class HttpsPolicyTests : IAsyncLifetime, IDisposable
{
    private readonly SidecarRig _rig = SidecarRig.Create();
    private TestUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await TestUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    public void Dispose()
    {
        _rig.Dispose();
    }

    [Fact]
    public async Task Hsts_Configured_HttpsResponsesCarryTheHeaderAdminResponsesDoNot()
    {
        await using var sidecar = await StartAsync(new()
        {
            ["Sidecar:Tls:Hsts:MaxAge"] = "365.00:00:00",
            ["Sidecar:Tls:Hsts:IncludeSubDomains"] = "true",
        });
        using var client = sidecar.CreateClient();
        using var admin = sidecar.CreateAdminClient();

        using var response = await client.GetAsync(new Uri("/page", UriKind.Relative));
        using var adminResponse = await admin.GetAsync(new Uri("/healthz/live", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("max-age=31536000; includeSubDomains", Assert.Single(response.Headers.GetValues("Strict-Transport-Security")));
        Assert.False(adminResponse.Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task Hsts_Default_NoHeader()
    {
        await using var sidecar = await StartAsync(new());
        using var client = sidecar.CreateClient();

        using var response = await client.GetAsync(new Uri("/page", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task RedirectPort_AnyRequest_Answers308ToTheHttpsUrlAndNeverReachesAppOrAdmin()
    {
        await using var sidecar = await StartAsync(new() { ["Sidecar:Hosting:HttpRedirectPort"] = FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture) });
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseProxy = false });

        using var page = await client.SendAsync(WithHost(HttpMethod.Post, sidecar.HttpRedirectAddress!, "/orders/7?x=1&y=%20", "shop.example.com:8080"));
        using var status = await client.SendAsync(WithHost(HttpMethod.Get, sidecar.HttpRedirectAddress!, "/status", "shop.example.com"));

        Assert.Equal(HttpStatusCode.PermanentRedirect, page.StatusCode);
        Assert.Equal("https://shop.example.com/orders/7?x=1&y=%20", page.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.PermanentRedirect, status.StatusCode);
        Assert.Equal("https://shop.example.com/status", status.Headers.Location!.OriginalString);
        Assert.Equal(0, _upstream.Count);
    }

    [Fact]
    public async Task RedirectPort_PublicHttpsPortNot443_LocationNamesThePort()
    {
        await using var sidecar = await StartAsync(new()
        {
            ["Sidecar:Hosting:HttpRedirectPort"] = FreePort.Next().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sidecar:Hosting:PublicHttpsPort"] = "8443",
        });
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseProxy = false });

        using var response = await client.SendAsync(WithHost(HttpMethod.Get, sidecar.HttpRedirectAddress!, "/a", "localhost"));

        Assert.Equal(HttpStatusCode.PermanentRedirect, response.StatusCode);
        Assert.Equal("https://localhost:8443/a", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task RedirectPort_Default_NoPlainHttpListener()
    {
        await using var sidecar = await StartAsync(new());

        Assert.Null(sidecar.HttpRedirectAddress);
        var addresses = sidecar.Urls;
        Assert.Single(addresses, a => a.StartsWith("http://", StringComparison.Ordinal));
    }

    private static HttpRequestMessage WithHost(HttpMethod method, Uri listener, string pathAndQuery, string host)
    {
        var request = new HttpRequestMessage(method, new Uri(listener, pathAndQuery));
        request.Headers.Host = host;
        return request;
    }

    private Task<SidecarHost> StartAsync(Dictionary<string, string?> extra) =>
        SidecarHost.StartAsync(_rig.Settings(_upstream.Address, extra), _rig.TrustedCa);
}
