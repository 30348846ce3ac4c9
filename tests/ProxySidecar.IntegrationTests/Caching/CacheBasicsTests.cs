using System.Net;

namespace ProxySidecar.IntegrationTests.Caching;

public sealed class CacheBasicsTests
{
    [Fact]
    public async Task Get_FreshEntry_IsServedFromCacheWithAgeAndCacheStatus()
    {
        await using var host = await CacheTestHost.StartAsync();
        host.Upstream.Map("/a", host.Respond(200, ("Cache-Control", "max-age=60")));

        using var first = await host.GetAsync("/a");
        host.Time.Advance(TimeSpan.FromSeconds(10));
        using var second = await host.GetAsync("/a");

        Assert.Equal("v1", first.Body());
        Assert.Equal("ProxySidecar; fwd=uri-miss; fwd-status=200; stored", first.CacheStatus());
        Assert.Equal("v1", second.Body());
        Assert.StartsWith("ProxySidecar; hit; ttl=", second.CacheStatus(), StringComparison.Ordinal);
        Assert.True(int.Parse(second.Header("Age")!, System.Globalization.CultureInfo.InvariantCulture) >= 10);
        Assert.Equal(1, host.Hits("/a"));
    }
}
