namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>One sidecar + app for a test class whose tests each use their own paths (time only moves forward).</summary>
public sealed class CacheHostFixture : IAsyncLifetime
{
    public CacheTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await CacheTestHost.StartAsync();

    public async Task DisposeAsync() => await Host.DisposeAsync();
}
