using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Time.Testing;
using ProxySidecar.Limits;
using static ProxySidecar.Tests.Limits.LimitsTestSupport;

namespace ProxySidecar.Tests.Limits;

public sealed class AppConcurrencyMiddlewareTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly LimitsPolicyProvider _limits;
    private int _forwarded;

    public AppConcurrencyMiddlewareTests()
    {
        var options = new LimitsOptions { App = new AppLimitOptions { MaxConcurrentRequests = 1, QueueLimit = 5, QueueTimeout = TimeSpan.FromSeconds(5), RetryAfter = TimeSpan.FromSeconds(2) } };
        _limits = Provider(new ChangingOptionsMonitor<LimitsOptions>(options), _time);
    }

    private AppGate Gate => _limits.Current.App!.Gate;

    public void Dispose() => _limits.Dispose();

    [Fact]
    public async Task BackgroundRefresh_NoFreeSlot_Gets503AtOnce_ThoughTheQueueHasRoom()
    {
        using var held = Gate.Limiter.AttemptAcquire();
        var refresh = new DefaultHttpContext();
        refresh.Response.Body = new MemoryStream();

        var task = Middleware().InvokeAsync(refresh);

        Assert.True(task.IsCompleted);
        await task;
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, refresh.Response.StatusCode);
        Assert.Equal("2", refresh.Response.Headers.RetryAfter.ToString());
        Assert.Equal(0, _forwarded);
        Assert.Equal(0, Gate.Queued);
        Assert.Equal(1, Gate.RejectedRefresh);
    }

    [Fact]
    public async Task BackgroundRefresh_FreeSlot_IsForwarded()
    {
        await Middleware().InvokeAsync(new DefaultHttpContext());

        Assert.Equal(1, _forwarded);
    }

    [Fact]
    public async Task ClientRequest_NoFreeSlot_WaitsAndGoesOnWhenOneFrees()
    {
        var held = Gate.Limiter.AttemptAcquire();
        var client = Client();

        var task = Middleware().InvokeAsync(client);
        Assert.False(task.IsCompleted);
        Assert.Equal(1, Gate.Queued);
        held.Dispose();
        await task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, _forwarded);
        Assert.Equal(StatusCodes.Status200OK, client.Response.StatusCode);
        Assert.Equal(0, Gate.InFlight);
    }

    [Fact]
    public async Task ClientRequest_WaitsLongerThanQueueTimeout_Gets503()
    {
        using var held = Gate.Limiter.AttemptAcquire();
        var client = Client();

        var task = Middleware().InvokeAsync(client);
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.False(task.IsCompleted);
        _time.Advance(TimeSpan.FromSeconds(1));
        await task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, client.Response.StatusCode);
        Assert.Equal(0, _forwarded);
        Assert.Equal(0, Gate.Queued);
        Assert.Equal(1, Gate.RejectedQueueTimeout);
    }

    [Fact]
    public async Task ClientRequest_QueueFull_Gets503AtOnce()
    {
        using var held = Gate.Limiter.AttemptAcquire();
        var waiting = Enumerable.Range(0, 5).Select(_ => Middleware().InvokeAsync(Client())).ToList();
        var beyond = Client();

        await Middleware().InvokeAsync(beyond).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, beyond.Response.StatusCode);
        Assert.Equal(1, Gate.RejectedQueueFull);
        Assert.Equal(5, Gate.Queued);
        _time.Advance(TimeSpan.FromSeconds(5));
        await Task.WhenAll(waiting).WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task Upgrade_GivesItsSlotBackOnceTheAppAcceptsIt()
    {
        var upgraded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tunnel = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlightBefore = -1;
        var middleware = new AppConcurrencyMiddleware(
            async context =>
            {
                inFlightBefore = Gate.InFlight;
                await context.Features.GetRequiredFeature<IHttpUpgradeFeature>().UpgradeAsync();
                upgraded.SetResult();
                await tunnel.Task;
            },
            _limits,
            Metrics(),
            _time);
        var socket = Client();
        socket.Features.Set<IHttpUpgradeFeature>(new Upgradable());

        var task = middleware.InvokeAsync(socket);
        await upgraded.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var inFlightDuringTunnel = Gate.InFlight;
        tunnel.SetResult();
        await task;

        Assert.Equal(1, inFlightBefore);
        Assert.Equal(0, inFlightDuringTunnel);
        Assert.Equal(0, Gate.InFlight);
    }

    [Fact]
    public async Task NoCap_EverythingIsForwarded()
    {
        using var limits = Provider(new ChangingOptionsMonitor<LimitsOptions>(new LimitsOptions()), _time);
        var middleware = new AppConcurrencyMiddleware(_ => { _forwarded++; return Task.CompletedTask; }, limits, Metrics(), _time);

        await middleware.InvokeAsync(new DefaultHttpContext());
        await middleware.InvokeAsync(Client());

        Assert.Equal(2, _forwarded);
    }

    private AppConcurrencyMiddleware Middleware() =>
        new(_ => { Interlocked.Increment(ref _forwarded); return Task.CompletedTask; }, _limits, Metrics(), _time);

    private static DefaultHttpContext Client()
    {
        var context = new DefaultHttpContext();
        context.Features.Set(new ClientRequestMarker.ClientRequestFeature());
        context.Response.Body = new MemoryStream();
        return context;
    }

    private sealed class Upgradable : IHttpUpgradeFeature
    {
        public bool IsUpgradableRequest => true;

        public Task<Stream> UpgradeAsync() => Task.FromResult(Stream.Null);
    }
}
