using Microsoft.Extensions.DependencyInjection;
using ProxySidecar.Limits;

namespace ProxySidecar.Tests.Limits;

public sealed class ClientConnectionLimiterTests
{
    private readonly ClientConnectionLimiter _limiter = new(new ServiceCollection().BuildServiceProvider(), LimitsTestSupport.Metrics());

    [Fact]
    public void TryEnter_UpToTheLimitPerAddress()
    {
        Assert.True(_limiter.TryEnter(1, 2));
        Assert.True(_limiter.TryEnter(1, 2));
        Assert.False(_limiter.TryEnter(1, 2));
        Assert.True(_limiter.TryEnter(2, 2));
        Assert.Equal(3, _limiter.Open);
        Assert.Equal(2, _limiter.Clients);
    }

    [Fact]
    public void Leave_LastConnection_ForgetsTheAddress()
    {
        _limiter.TryEnter(1, null);
        _limiter.TryEnter(1, null);

        _limiter.Leave(1);
        var clientsWithOne = _limiter.Clients;
        _limiter.Leave(1);

        Assert.Equal(1, clientsWithOne);
        Assert.Equal(0, _limiter.Clients);
        Assert.Equal(0, _limiter.Open);
    }

    [Fact]
    public void TryEnter_ManyThreads_NeverMoreThanTheLimit()
    {
        var admitted = 0;
        Parallel.For(0, 1000, _ =>
        {
            if (_limiter.TryEnter(7, 10))
            {
                Interlocked.Increment(ref admitted);
            }
        });

        Assert.Equal(10, admitted);
        Assert.Equal(10, _limiter.Open);
    }
}
