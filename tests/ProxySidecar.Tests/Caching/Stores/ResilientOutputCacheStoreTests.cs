using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Polly.CircuitBreaker;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching.Stores;

public sealed class ResilientOutputCacheStoreTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly FakeStore _inner = new();
    private readonly SharedStoreHealth _health;
    private readonly ResilientOutputCacheStore _store;

    public ResilientOutputCacheStoreTests()
    {
        _health = new SharedStoreHealth(_time);
        var options = new RedisStoreOptions
        {
            OperationTimeout = TimeSpan.FromMilliseconds(250),
            PurgeTimeout = TimeSpan.FromSeconds(5),
            Breaker = new RedisBreakerOptions { FailureRatio = 0.5, MinimumThroughput = 4, SamplingDuration = TimeSpan.FromSeconds(5), BreakDuration = TimeSpan.FromSeconds(2) },
        };
        _store = new ResilientOutputCacheStore(_inner, options, _health, _time, NullLogger<ResilientOutputCacheStore>.Instance);
    }

    [Fact]
    public async Task GetAsync_StoreWorks_ReturnsItsValue()
    {
        _inner.Put("k", [1, 2, 3]);

        Assert.Equal([1, 2, 3], await _store.GetAsync("k", default));
    }

    [Fact]
    public async Task GetAsync_StoreThrows_IsAMissAndCountsAnError()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;

        Assert.Null(await _store.GetAsync("k", default));
        Assert.Equal(1, _health.Errors(StoreOperations.Get));
        Assert.Equal(StoreOperations.Get, _health.LastError!.Operation);
    }

    [Fact]
    public async Task GetAsync_StoreHangs_IsAMissOnceTheOperationTimeoutPasses()
    {
        _inner.Mode = FakeStore.Behaviour.Hanging;

        var read = _store.GetAsync("k", default).AsTask();
        Assert.False(read.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(249));
        await Task.Delay(20);
        Assert.False(read.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(2));

        Assert.Null(await read.WaitAsync(Wait));
        Assert.Contains("timed out", _health.LastError!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetAsync_RepeatedFailures_OpenTheBreakerAndSkipTheStore()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;
        for (var i = 0; i < 4; i++)
        {
            await _store.GetAsync("k", default);
        }

        Assert.Equal(CircuitState.Open, _health.BreakerState);
        var callsWhenOpened = _inner.Gets;
        for (var i = 0; i < 20; i++)
        {
            var read = _store.GetAsync("k", default);
            Assert.True(read.IsCompleted, "an open breaker answers at once");
            Assert.Null(await read);
        }

        Assert.Equal(callsWhenOpened, _inner.Gets);
        Assert.Equal(20, _health.Skipped);
    }

    [Fact]
    public async Task GetAsync_HungStore_CostsOneTimeoutPerCallUntilTheBreakerOpensThenNothing()
    {
        _inner.Mode = FakeStore.Behaviour.Hanging;
        for (var i = 0; i < 4; i++)
        {
            var read = _store.GetAsync("k", default).AsTask();
            Assert.False(read.IsCompleted);
            _time.Advance(TimeSpan.FromMilliseconds(250));
            Assert.Null(await read.WaitAsync(Wait));
        }

        var skipped = _store.GetAsync("k", default);

        Assert.True(skipped.IsCompleted, "once open, a hung store costs nothing");
        Assert.Equal(4, _inner.Gets);
    }

    [Fact]
    public async Task GetAsync_BreakDurationPassedAndStoreBack_OneProbeClosesTheBreaker()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;
        for (var i = 0; i < 4; i++)
        {
            await _store.GetAsync("k", default);
        }

        _inner.Mode = FakeStore.Behaviour.Working;
        _inner.Put("k", [7]);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await _store.GetAsync("k", default));
        Assert.Equal(4, _inner.Gets);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([7], await _store.GetAsync("k", default));

        Assert.Equal(5, _inner.Gets);
        Assert.Equal(CircuitState.Closed, _health.BreakerState);
    }

    [Fact]
    public async Task GetAsync_ProbeFails_BreakerOpensAgain()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;
        for (var i = 0; i < 4; i++)
        {
            await _store.GetAsync("k", default);
        }

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(await _store.GetAsync("k", default));

        Assert.Equal(CircuitState.Open, _health.BreakerState);
        Assert.Null(await _store.GetAsync("k", default));
        Assert.Equal(5, _inner.Gets);
    }

    [Fact]
    public async Task GetAsync_StillConnecting_IsAMissThatNeitherCountsAsAnErrorNorOpensTheBreaker()
    {
        _inner.Mode = FakeStore.Behaviour.NotReady;

        for (var i = 0; i < 10; i++)
        {
            var read = _store.GetAsync("k", default);
            Assert.True(read.IsCompleted, "no request waits for the connection");
            Assert.Null(await read);
        }

        Assert.Equal(CircuitState.Closed, _health.BreakerState);
        Assert.Equal(0, _health.Errors(StoreOperations.Get));
        Assert.Equal(10, _health.Skipped);
    }

    [Fact]
    public async Task GetAsync_CallerCancels_NotCountedAsAStoreError()
    {
        _inner.Mode = FakeStore.Behaviour.Hanging;
        using var cancel = new CancellationTokenSource();

        var read = _store.GetAsync("k", cancel.Token).AsTask();
        await cancel.CancelAsync();

        Assert.Null(await read.WaitAsync(Wait));
        Assert.Equal(0, _health.Errors(StoreOperations.Get));
    }

    [Fact]
    public async Task SetAsync_StoreHangs_ReturnsAtOnceAndTheWriteGivesUpAfterTheTimeout()
    {
        _inner.Mode = FakeStore.Behaviour.Hanging;

        var write = _store.SetAsync("k", [1], ["t"], TimeSpan.FromMinutes(1), default);

        Assert.True(write.IsCompletedSuccessfully, "writes never hold the response");
        await WaitUntilAsync(() => _inner.Sets == 1);
        _time.Advance(TimeSpan.FromMilliseconds(250));
        await WaitUntilAsync(() => _store.PendingWrites == 0);
        Assert.Equal(1, _health.Errors(StoreOperations.Set));
    }

    [Fact]
    public async Task SetAsync_StoreWorks_WritesInTheBackground()
    {
        await _store.SetAsync("k", [4], ["t"], TimeSpan.FromMinutes(1), default);

        await WaitUntilAsync(() => _store.PendingWrites == 0);
        Assert.Equal([4], await _inner.GetAsync("k", default));
    }

    [Fact]
    public async Task SetAsync_BreakerOpen_SkipsTheStore()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;
        for (var i = 0; i < 4; i++)
        {
            await _store.GetAsync("k", default);
        }

        _inner.Mode = FakeStore.Behaviour.Working;
        await _store.SetAsync("k", [1], ["t"], TimeSpan.FromMinutes(1), default);
        await WaitUntilAsync(() => _store.PendingWrites == 0);

        Assert.Equal(0, _inner.Sets);
    }

    [Fact]
    public async Task SetAsync_UntaggedRecordAndStoreFails_ThrowsSoThePurgeReportsIt()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;

        await Assert.ThrowsAsync<SharedStoreUnavailableException>(() => _store.SetAsync("psc1:purge:all", [1], null, TimeSpan.FromMinutes(1), default).AsTask());
    }

    [Fact]
    public async Task SetAsync_UntaggedRecord_IsInTheStoreWhenTheCallReturns()
    {
        await _store.SetAsync("psc1:purge:all", [1], null, TimeSpan.FromMinutes(1), default);

        Assert.Equal([1], await _inner.GetAsync("psc1:purge:all", default));
    }

    [Fact]
    public async Task EvictByTagAsync_StoreFails_ThrowsSoThePurgeReportsIt()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;

        await Assert.ThrowsAsync<SharedStoreUnavailableException>(() => _store.EvictByTagAsync("t", default).AsTask());
        Assert.Equal(1, _health.Errors(StoreOperations.Evict));
    }

    [Fact]
    public async Task EvictByTagAsync_BreakerOpen_StillTriesTheStore()
    {
        _inner.Mode = FakeStore.Behaviour.Failing;
        for (var i = 0; i < 4; i++)
        {
            await _store.GetAsync("k", default);
        }

        _inner.Mode = FakeStore.Behaviour.Working;
        await _store.EvictByTagAsync("t", default);

        Assert.Equal(1, _inner.Evictions);
    }

    [Fact]
    public async Task EvictByTagAsync_StoreHangs_FailsAfterThePurgeTimeout()
    {
        _inner.Mode = FakeStore.Behaviour.Hanging;

        var evict = _store.EvictByTagAsync("t", default).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(250));
        await Task.Delay(20);
        Assert.False(evict.IsCompleted, "a purge gets its own, longer deadline");
        _time.Advance(TimeSpan.FromSeconds(5));

        await Assert.ThrowsAsync<SharedStoreUnavailableException>(() => evict.WaitAsync(Wait));
    }

    [Fact]
    public async Task GetAsync_DefaultsAndOutageAfterBusyHealthyTraffic_BreakerOpensWithinAboutOneSecond()
    {
        var health = new SharedStoreHealth(_time);
        var store = new ResilientOutputCacheStore(_inner, new RedisStoreOptions(), health, _time, NullLogger<ResilientOutputCacheStore>.Instance);
        for (var i = 0; i < 1000; i++)
        {
            await store.GetAsync("k", default);
        }

        _inner.Mode = FakeStore.Behaviour.Failing;
        var failuresBeforeOpen = 0;
        for (var step = 0; step < 30 && health.BreakerState == CircuitState.Closed; step++)
        {
            for (var i = 0; i < 10; i++)
            {
                await store.GetAsync("k", default);
                failuresBeforeOpen++;
            }

            _time.Advance(TimeSpan.FromMilliseconds(50));
        }

        // The thousand successes leave the one-second window; the failures alone then open it.
        Assert.Equal(CircuitState.Open, health.BreakerState);
        Assert.InRange(failuresBeforeOpen, 1, 220);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(5);
        }
    }
}
