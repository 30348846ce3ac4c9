using System.Net;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Proxy;

public sealed class ForwardingSmokeTests
{
    [Fact]
    public async Task Get_OverHttps_ReachesTheAppAndReturnsItsAnswer()
    {
        using var rig = SidecarRig.Create();
        await using var upstream = await TestUpstream.StartAsync();
        await using var sidecar = await SidecarHost.StartAsync(rig.Settings(upstream.Address), rig.TrustedCa);
        using var client = sidecar.CreateClient();

        using var response = await client.GetAsync(new Uri("/hello?x=1", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("upstream:/hello", await response.Content.ReadAsStringAsync());
        var received = Assert.Single(upstream.Received);
        Assert.Equal("?x=1", received.QueryString);
    }
}
