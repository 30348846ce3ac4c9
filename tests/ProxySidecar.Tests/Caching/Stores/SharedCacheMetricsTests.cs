using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Tests.Caching.Stores;

public sealed class SharedCacheMetricsTests
{
    [Fact]
    public async Task Metrics_BreakerOpenAndStoreErrors_ReportedUnderTheSharedNames()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        var time = new FakeTimeProvider();
        var health = new SharedStoreHealth(time);
        var inner = new FakeStore { Mode = FakeStore.Behaviour.Failing };
        var store = new ResilientOutputCacheStore(inner, new RedisStoreOptions(), health, time, NullLogger<ResilientOutputCacheStore>.Instance);
        var options = Options.Create(new CacheStoreOptions { Store = "Redis", Redis = new RedisStoreOptions { Configuration = "127.0.0.1:1" } });
        await using var connection = new RedisConnection(options, time, NullLogger<RedisConnection>.Instance);
        var cacheMetrics = new CacheMetrics(meterFactory, new LocalCacheHolder(null));
        _ = new SharedCacheMetrics(meterFactory, health, connection, cacheMetrics);

        // Other tests record under the same meter name at the same time: listen to this factory's meters
        // only, and collect into a thread-safe queue (callbacks arrive on the recording threads).
        var measurements = new System.Collections.Concurrent.ConcurrentQueue<(string Name, long Value, string? Operation)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SidecarTelemetry.MeterName && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => measurements.Enqueue((instrument.Name, value, null)));
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? operation = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "operation")
                {
                    operation = tag.Value as string;
                }
            }

            measurements.Enqueue((instrument.Name, value, operation));
        });
        listener.Start();

        for (var i = 0; i < 4; i++)
        {
            await store.GetAsync("k", default);
        }

        listener.RecordObservableInstruments();
        var recorded = measurements.ToArray();

        Assert.Equal(4, recorded.Count(m => m.Name == SidecarTelemetry.Instruments.CacheStoreErrors && m.Operation == "get"));
        Assert.Contains((SidecarTelemetry.Instruments.CacheBreakerState, 2L, (string?)null), recorded);
        Assert.Contains((SidecarTelemetry.Instruments.CacheRedisConnected, 0L, (string?)null), recorded);
    }
}
