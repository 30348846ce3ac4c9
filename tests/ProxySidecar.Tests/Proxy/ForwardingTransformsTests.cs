using ProxySidecar.Proxy;

namespace ProxySidecar.Tests.Proxy;

public sealed class ForwardingTransformsTests
{
    [Theory]
    [InlineData("/a%2Fb/c%2fd?x=%2F", "/a%2Fb/c%2fd")]
    [InlineData("/%7Euser/%41BC?q=%7e", "/~user/ABC")]
    [InlineData("/Mixed/CASE", "/Mixed/CASE")]
    [InlineData("/caf%C3%A9", "/café")]
    public void RawTargetAddress_TargetDenotesTheRoutedPath_KeepsItByteForByte(string rawTarget, string routedPath)
    {
        var address = ForwardingTransforms.RawTargetAddress("http://127.0.0.1:8080/", rawTarget, routedPath);

        Assert.NotNull(address);
        Assert.Equal(rawTarget, address.PathAndQuery);
        Assert.Equal("http://127.0.0.1:8080" + rawTarget, address.OriginalString);
    }

    [Theory]
    [InlineData("/a/../b", "/b")]
    [InlineData("/a/%2e%2e/b", "/b")]
    [InlineData("/api/x", "/x")]
    [InlineData("*", "/")]
    [InlineData("http://example.com/x", "/x")]
    public void RawTargetAddress_TargetIsNotTheRoutedPath_Null(string rawTarget, string routedPath)
    {
        Assert.Null(ForwardingTransforms.RawTargetAddress("http://127.0.0.1:8080", rawTarget, routedPath));
    }

    [Fact]
    public void RawTargetAddress_DestinationWithoutTrailingSlash_Joined()
    {
        var address = ForwardingTransforms.RawTargetAddress("http://127.0.0.1:8080", "/x%2Fy", "/x%2Fy");

        Assert.Equal("http://127.0.0.1:8080/x%2Fy", address!.OriginalString);
    }
}
