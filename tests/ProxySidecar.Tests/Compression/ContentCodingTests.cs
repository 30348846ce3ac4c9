using Microsoft.Extensions.Primitives;
using ProxySidecar.Compression;

namespace ProxySidecar.Tests.Compression;

public sealed class ContentCodingTests
{
    [Theory]
    [InlineData(null, "identity")]
    [InlineData("", "identity")]
    [InlineData("gzip", "gzip")]
    [InlineData("br", "br")]
    [InlineData("gzip, deflate, br", "br")]
    [InlineData("gzip, deflate, br, zstd", "br")]
    [InlineData("BR;Q=1, GZIP", "br")]
    [InlineData("x-gzip", "gzip")]
    [InlineData("gzip;q=1.0, br;q=0.5", "gzip")]
    [InlineData("gzip;q=0.5, br;q=0.8", "br")]
    [InlineData("br;q=0, gzip", "gzip")]
    [InlineData("br;q=0, gzip;q=0", "identity")]
    [InlineData("identity;q=1, *;q=0", "identity")]
    [InlineData("identity", "identity")]
    [InlineData("deflate", "identity")]
    [InlineData("*", "br")]
    [InlineData("*;q=0.5, br;q=0.2", "gzip")]
    [InlineData("gzip;q=0.5, identity", "identity")]
    [InlineData("gzip;q=0.5, identity;q=0.5", "gzip")]
    [InlineData("gzip;q=2", "identity")]
    [InlineData("gzip;q=abc, br;level=5", "identity")]
    [InlineData("gzip ; q=0.9 ,br;q=0.1", "gzip")]
    public void Negotiate_FollowsTheClientsWeights_BrotliOnATie(string? header, string expected)
    {
        Assert.Equal(expected, ContentCodings.Negotiate(header is null ? StringValues.Empty : new StringValues(header)).Name());
    }

    [Fact]
    public void Negotiate_SeveralFieldLines_AreOneList()
    {
        Assert.Equal(ContentCoding.Gzip, ContentCodings.Negotiate(new StringValues(["br;q=0", "gzip"])));
    }
}
