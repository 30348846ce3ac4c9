using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Admin;

/// <summary>The admin listener answers probes and /status on its own port, and only there.</summary>
public sealed class AdminListenerTests
{
    [Fact]
    public async Task Live_OnAdminPort_200()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var admin = stack.Sidecar.CreateAdminClient();

        using var response = await admin.GetAsync(new Uri("/healthz/live", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, stack.Upstream.Count);
    }

    [Fact]
    public async Task Ready_CertificateLoadedAndAppAnswered_200()
    {
        await using var stack = await SidecarSetup.StartAsync();

        await stack.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
        using var admin = stack.Sidecar.CreateAdminClient();
        using var response = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("ready", (string?)body["status"]);
    }

    [Fact]
    public async Task Ready_AppDown_503WithJsonReason()
    {
        var closedPort = FreePort.Next();
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Upstream:Address"] = $"http://127.0.0.1:{closedPort}",
            ["Sidecar:Upstream:ProbeInterval"] = "00:00:00.2",
        });
        await stack.Sidecar.WaitForStatusAsync(s => s["upstream"]?["lastProbe"]?["at"] is not null);
        using var admin = stack.Sidecar.CreateAdminClient();

        using var response = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("not ready", (string?)body["status"]);
        Assert.Contains($"127.0.0.1:{closedPort}", (string?)body["reason"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ready_AppGoesDownThenUp_FollowsTheProbe()
    {
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Upstream:ProbeInterval"] = "00:00:00.2",
            ["Sidecar:Upstream:ProbePath"] = "/probe",
        });
        var healthy = true;
        stack.Upstream.Map("/probe", context =>
        {
            context.Response.StatusCode = Volatile.Read(ref healthy) ? 200 : 500;
            return Task.CompletedTask;
        });
        await stack.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);

        Volatile.Write(ref healthy, false);
        await stack.Sidecar.WaitForReadinessAsync(HttpStatusCode.ServiceUnavailable);
        Volatile.Write(ref healthy, true);
        await stack.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Status_OnAdminPort_ReportsVersionStateUptimeCertificateAndUpstream()
    {
        await using var stack = await SidecarSetup.StartAsync();

        var status = await stack.Sidecar.WaitForStatusAsync(s => (bool?)s["upstream"]?["lastProbe"]?["succeeded"] == true);

        Assert.False(string.IsNullOrEmpty((string?)status["version"]));
        Assert.Equal("ready", (string?)status["state"]);
        Assert.True((double)status["uptimeSeconds"]! >= 0);
        var certificate = status["certificate"]!;
        Assert.Equal("CN=localhost", (string?)certificate["subject"]);
        Assert.Equal(stack.Issued.Thumbprint, (string?)certificate["thumbprintSha256"]);
        using var leaf = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(stack.Issued.CertificatePem);
        Assert.Equal(new DateTimeOffset(leaf.NotAfter.ToUniversalTime()), DateTimeOffset.Parse((string)certificate["notAfter"]!, System.Globalization.CultureInfo.InvariantCulture));
        var upstream = status["upstream"]!;
        Assert.Equal(stack.Upstream.Address.ToString(), (string?)upstream["address"]);
        Assert.NotNull(upstream["lastProbe"]!["at"]);
        Assert.False(string.IsNullOrEmpty((string?)upstream["lastProbe"]!["detail"]));
    }

    [Fact]
    public async Task AdminPort_UnknownPath_404AndNeverReachesTheApp()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var admin = stack.Sidecar.CreateAdminClient();

        using var response = await admin.GetAsync(new Uri("/some/app/path", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(0, stack.Upstream.Count);
    }

    [Theory]
    [InlineData("/healthz/live")]
    [InlineData("/healthz/ready")]
    [InlineData("/status")]
    public async Task AdminPath_OnPublicPort_IsNotServedBySidecarButForwardedToTheApp(string path)
    {
        await using var stack = await SidecarSetup.StartAsync();
        stack.Upstream.Fallback = context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return context.Response.WriteAsync("the app has no " + context.Request.Path);
        };
        using var client = stack.CreateClient();

        using var response = await client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("the app has no " + path, await response.Content.ReadAsStringAsync());
        Assert.Single(stack.Upstream.Received, r => r.Path == path);
    }

    [Fact]
    public async Task AdminPath_OnPublicPort_SpoofedHostOfAdminListener_StillForwarded()
    {
        await using var stack = await SidecarSetup.StartAsync();
        using var client = stack.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/status");
        request.Headers.Host = $"localhost:{stack.Sidecar.AdminAddress.Port}";

        using var response = await client.SendAsync(request);

        Assert.Equal("upstream:/status", await response.Content.ReadAsStringAsync());
    }
}
