using Microsoft.AspNetCore.Http;
using ProxySidecar.Compression;

namespace ProxySidecar.Tests.Compression;

public sealed class EncodedValidatorsTests
{
    [Theory]
    [InlineData("\"abc\"", "br", "\"abc-br\"")]
    [InlineData("\"abc\"", "gzip", "\"abc-gzip\"")]
    [InlineData("\"\"", "gzip", "\"-gzip\"")]
    [InlineData("W/\"abc\"", "br", "W/\"abc\"")]
    [InlineData("\"abc\"", "identity", "\"abc\"")]
    [InlineData("abc", "br", null)]
    [InlineData("\"abc", "br", null)]
    public void For_SuffixesStrongTags_KeepsWeakOnes_DropsMalformedOnes(string etag, string coding, string? expected)
    {
        Assert.Equal(expected, EncodedValidators.For(etag, Coding(coding)));
    }

    [Theory]
    [InlineData("\"abc-br\"", true, "\"abc\"", "br")]
    [InlineData("\"abc-gzip\"", true, "\"abc\"", "gzip")]
    [InlineData("\"abc\"", false, "", "identity")]
    [InlineData("\"-br\"", false, "", "identity")]
    [InlineData("W/\"abc-br\"", false, "", "identity")]
    [InlineData("\"abc-zstd\"", false, "", "identity")]
    public void TryUnsuffix_OnlyStrongTagsTheSidecarSuffixed(string tag, bool expected, string appTag, string coding)
    {
        Assert.Equal(expected, EncodedValidators.TryUnsuffix(tag, out var mappedTag, out var mappedCoding));
        Assert.Equal((appTag, coding), (mappedTag, mappedCoding.Name()));
    }

    [Fact]
    public void MapRequest_IfNoneMatchAndIfMatch_NameTheAppsTags()
    {
        IHeaderDictionary headers = new HeaderDictionary
        {
            ["If-None-Match"] = "\"a-br\", W/\"b\", \"c-gzip\"",
            ["If-Match"] = "\"d-br\"",
            ["If-Range"] = "\"e-br\"",
        };

        var mapped = EncodedValidators.MapRequest(headers);

        Assert.Equal("\"a\", W/\"b\", \"c\"", headers.IfNoneMatch.ToString());
        Assert.Equal("\"d\"", headers.IfMatch.ToString());
        Assert.Equal("\"e-br\"", headers["If-Range"].ToString());
        Assert.Equal([("\"a\"", ContentCoding.Brotli), ("\"c\"", ContentCoding.Gzip)], mapped!);
        Assert.Equal(ContentCoding.Gzip, EncodedValidators.CodingOfClientTag(mapped, "\"c\""));
        Assert.Null(EncodedValidators.CodingOfClientTag(mapped, "\"b\""));
    }

    [Fact]
    public void MapRequest_NothingSuffixed_LeavesTheHeadersAlone()
    {
        IHeaderDictionary headers = new HeaderDictionary { ["If-None-Match"] = "\"a\",\"b\"" };

        Assert.Null(EncodedValidators.MapRequest(headers));
        Assert.Equal("\"a\",\"b\"", headers.IfNoneMatch.ToString());
    }

    private static ContentCoding Coding(string name) => ContentCodings.TryParse(name, out var coding) ? coding : ContentCoding.Identity;
}
