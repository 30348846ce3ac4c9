using ProxySidecar.Proxy;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Tests.Proxy;

public sealed class ForwarderErrorMiddlewareTests
{
    [Theory]
    [InlineData(ForwarderError.Request, 502)]
    [InlineData(ForwarderError.RequestTimedOut, 504)]
    [InlineData(ForwarderError.ResponseHeaders, 502)]
    [InlineData(ForwarderError.ResponseBodyDestination, 502)]
    [InlineData(ForwarderError.UpgradeRequestDestination, 502)]
    [InlineData(ForwarderError.UpgradeResponseDestination, 502)]
    [InlineData(ForwarderError.RequestBodyClient, 400)]
    [InlineData(ForwarderError.NoAvailableDestinations, 503)]
    public void Describe_ForwarderError_MapsToStatus(ForwarderError error, int expected)
    {
        var (status, title, detail) = ForwarderErrorMiddleware.Describe(error, 502);

        Assert.Equal(expected, status);
        Assert.False(string.IsNullOrEmpty(title));
        Assert.False(string.IsNullOrEmpty(detail));
    }

    [Fact]
    public void Describe_ConnectTimeout_502NotGatewayTimeout()
    {
        var connectTimeout = new TaskCanceledException("The connection attempt timed out.", new TimeoutException("connect"));

        var (status, _, detail) = ForwarderErrorMiddleware.Describe(ForwarderError.RequestTimedOut, 504, ForwarderErrorMiddleware.IsConnectTimeout(connectTimeout));

        Assert.Equal(502, status);
        Assert.Contains("connection", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void IsConnectTimeout_PlainCancellation_False()
    {
        Assert.False(ForwarderErrorMiddleware.IsConnectTimeout(new TaskCanceledException("activity timeout")));
    }

    [Fact]
    public void Describe_OtherErrorWithStatusAlreadySet_KeepsThatStatus()
    {
        var (status, title, _) = ForwarderErrorMiddleware.Describe(ForwarderError.ResponseBodyClient, 504);

        Assert.Equal(504, status);
        Assert.Equal("Gateway Timeout", title);
    }

    [Fact]
    public void Describe_OtherErrorWithoutErrorStatus_Is502()
    {
        Assert.Equal(502, ForwarderErrorMiddleware.Describe(ForwarderError.ResponseBodyClient, 200).Status);
    }

    [Theory]
    [InlineData(ForwarderError.Request, false, true)]
    [InlineData(ForwarderError.RequestTimedOut, true, true)]
    [InlineData(ForwarderError.RequestTimedOut, false, false)]
    [InlineData(ForwarderError.ResponseBodyDestination, false, false)]
    [InlineData(ForwarderError.RequestCanceled, false, false)]
    public void MeansAppUnreachable_OnlyConnectFailures(ForwarderError error, bool connectTimedOut, bool expected)
    {
        Assert.Equal(expected, ForwarderErrorMiddleware.MeansAppUnreachable(error, connectTimedOut));
    }

    [Theory]
    [InlineData(413, 413)]
    [InlineData(408, 408)]
    [InlineData(400, 400)]
    public void Describe_BodyRefusedByKestrel_ItsStatus(int kestrelStatus, int answered)
    {
        var error = new IOException("copy failed", new Microsoft.AspNetCore.Http.BadHttpRequestException("refused", kestrelStatus));

        var status = ForwarderErrorMiddleware.Describe(ForwarderError.RequestBodyClient, 502, clientBodyStatus: ForwarderErrorMiddleware.ClientBodyStatus(error)).Status;

        Assert.Equal(answered, status);
    }

    [Theory]
    [InlineData(ForwarderError.RequestCanceled, true)]
    [InlineData(ForwarderError.RequestBodyClient, true)]
    [InlineData(ForwarderError.ResponseBodyClient, true)]
    [InlineData(ForwarderError.Request, false)]
    [InlineData(ForwarderError.ResponseHeaders, false)]
    public void IsClientSide_OnlyFailuresTheClientCaused(ForwarderError error, bool clientSide)
    {
        Assert.Equal(clientSide, ForwarderErrorMiddleware.IsClientSide(error));
    }
}
