using System.Net;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Proxy;

/// <summary>A full YARP ReverseProxy section replaces the catch-all route built from Sidecar:Upstream:Address.</summary>
public sealed class ReverseProxySectionTests
{
    [Fact]
    public async Task ReverseProxySection_OnlyApiRoute_ApiForwardedOtherPaths404()
    {
        await using var api = await TestUpstream.StartAsync();
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["ReverseProxy:Routes:api:ClusterId"] = "api",
            ["ReverseProxy:Routes:api:Match:Path"] = "/api/{**rest}",
            ["ReverseProxy:Clusters:api:Destinations:one:Address"] = api.Address.ToString(),
        });
        using var client = stack.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/items?id=7");
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", "6.6.6.6");

        using var routed = await client.SendAsync(request);
        using var other = await client.GetAsync(new Uri("/elsewhere", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, routed.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        var received = Assert.Single(api.Received);
        Assert.Equal("/api/items", received.Path);
        Assert.Equal("?id=7", received.QueryString);
        Assert.Equal("127.0.0.1", received.Header("X-Forwarded-For"));
        Assert.Empty(stack.Upstream.Received);
    }
}
