using Microsoft.AspNetCore.Http;
using ProxySidecar.Proxy;

namespace ProxySidecar.Tests.Proxy;

public sealed class RequestHeadGuardTests
{
    [Theory]
    [InlineData("localhost", true)]
    [InlineData("localhost:8443", true)]
    [InlineData("localhost:0", true)]
    [InlineData("localhost:65535", true)]
    [InlineData("10.0.0.1:443", true)]
    [InlineData("[::1]", true)]
    [InlineData("[::1]:8443", true)]
    [InlineData("", true)]
    [InlineData("localhost:65536", false)]
    [InlineData("localhost:99999", false)]
    [InlineData("localhost:000080", false)]
    [InlineData("localhost:", false)]
    [InlineData(":8443", false)]
    [InlineData("localhost:80:90", false)]
    [InlineData("[::1]:99999", false)]
    [InlineData("[::1", false)]
    [InlineData("[::1]x", false)]
    public void IsValidHost(string host, bool valid)
    {
        Assert.Equal(valid, RequestHeadGuardMiddleware.IsValidHost(host));
    }

    [Fact]
    public void DropUnderscoreHeaders_RemovesOnlyNamesWithAnUnderscore()
    {
        var headers = new HeaderDictionary
        {
            ["X_Forwarded_For"] = "1.2.3.4",
            ["Transfer_Encoding"] = "chunked",
            ["X-Forwarded-For"] = "5.6.7.8",
            ["Accept"] = "*/*",
        };

        RequestHeadGuardMiddleware.DropUnderscoreHeaders(headers);

        Assert.Equal(["X-Forwarded-For", "Accept"], headers.Keys);
    }
}
