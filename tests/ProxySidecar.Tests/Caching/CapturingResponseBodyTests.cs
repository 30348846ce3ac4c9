using Microsoft.AspNetCore.Http;
using ProxySidecar.Caching;

namespace ProxySidecar.Tests.Caching;

public sealed class CapturingResponseBodyTests
{
    [Fact]
    public async Task Tee_SendsEverythingAndDropsTheCaptureOnceOverTheLimit()
    {
        using var sink = new MemoryStream();
        var body = new CapturingResponseBody(new StreamResponseBodyFeature(sink), limit: 10, _ => BodyMode.Tee);

        await body.WriteAsync(new byte[8]);
        Assert.Equal(8, body.Captured.Length);
        await body.WriteAsync(new byte[8]);

        Assert.Equal(16, sink.Length);
        Assert.True(body.Overflowed);
        Assert.Equal(0, body.Captured.Length);
    }

    [Fact]
    public async Task Hold_KeepsTheBodyFromTheClient()
    {
        using var sink = new MemoryStream();
        var body = new CapturingResponseBody(new StreamResponseBodyFeature(sink), limit: 100, _ => BodyMode.Hold);
        await body.WriteAsync("abc"u8.ToArray());
        await body.CompleteAsync();
        Assert.Equal(0, sink.Length);
        Assert.Equal("abc"u8.ToArray(), body.Captured.ToArray());
    }

    [Fact]
    public async Task Decide_RunsOnceAtTheFirstWrite()
    {
        var calls = 0;
        using var sink = new MemoryStream();
        var body = new CapturingResponseBody(new StreamResponseBodyFeature(sink), limit: 100, _ =>
        {
            calls++;
            return BodyMode.PassThrough;
        });
        await body.WriteAsync(new byte[1]);
        await body.WriteAsync(new byte[1]);
        await body.FlushAsync();
        Assert.Equal(1, calls);
        Assert.Equal(0, body.Captured.Length);
    }
}
