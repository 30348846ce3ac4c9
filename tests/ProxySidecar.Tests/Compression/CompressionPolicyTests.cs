using ProxySidecar.Compression;

namespace ProxySidecar.Tests.Compression;

public sealed class CompressionPolicyTests
{
    [Theory]
    [InlineData("text/html", true)]
    [InlineData("text/html; charset=utf-8", true)]
    [InlineData("TEXT/CSS", true)]
    [InlineData("application/json", true)]
    [InlineData("application/problem+json", true)]
    [InlineData("application/vnd.api+json; charset=utf-8", true)]
    [InlineData("application/javascript", true)]
    [InlineData("application/atom+xml", true)]
    [InlineData("image/svg+xml", true)]
    [InlineData("application/wasm", true)]
    [InlineData("text/event-stream", false)]
    [InlineData("text/event-stream; charset=utf-8", false)]
    [InlineData("application/grpc", false)]
    [InlineData("application/grpc+proto", false)]
    [InlineData("application/grpc-web+proto", false)]
    [InlineData("image/png", false)]
    [InlineData("application/octet-stream", false)]
    [InlineData("application/zip", false)]
    [InlineData("application/+json", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void DefaultMediaTypes_TextJsonScriptXmlSvg_NeverEventStreamsOrGrpc(string? contentType, bool expected)
    {
        Assert.Equal(expected, new CompressionPolicy(new CompressionOptions()).MediaTypes.Matches(contentType));
    }

    [Fact]
    public void MimeTypes_WhenSet_ReplaceTheDefaults_AndNeverStillWins()
    {
        var options = new CompressionOptions();
        options.MimeTypes.Add("application/x-custom");
        options.MimeTypes.Add("text/*");
        var types = new CompressionPolicy(options).MediaTypes;

        Assert.True(types.Matches("application/x-custom"));
        Assert.False(types.Matches("application/json"));
        Assert.False(types.Matches("text/event-stream"));
    }

    [Fact]
    public void Match_FirstRuleWins_UnsetValuesComeFromTheSection()
    {
        var options = new CompressionOptions { MinimumBytes = 100, CompressWithCredentials = false };
        options.Rules.Add(new CompressionRuleOptions { Name = "raw", Path = "/raw/**", Enabled = false });
        options.Rules.Add(new CompressionRuleOptions { Name = "public", Path = "/public/**", CompressWithCredentials = true, MinimumBytes = 10 });
        options.Rules.Add(new CompressionRuleOptions { Name = "all", Path = "/**" });
        var policy = new CompressionPolicy(options);

        Assert.False(policy.Match("/raw/x").Enabled);
        var publicRule = policy.Match("/public/a.css");
        Assert.Equal(("public", true, true, 10), (publicRule.Name, publicRule.Enabled, publicRule.CompressWithCredentials, publicRule.MinimumBytes));
        var all = policy.Match("/other");
        Assert.Equal(("all", true, false, 100), (all.Name, all.Enabled, all.CompressWithCredentials, all.MinimumBytes));
    }

    [Fact]
    public void Match_NoRule_IsTheSection()
    {
        var policy = new CompressionPolicy(new CompressionOptions { Enabled = false });

        Assert.Same(policy.Default, policy.Match("/x"));
        Assert.False(policy.Match("/x").Enabled);
    }

    [Theory]
    [InlineData("/public/x/..%2F../account")]
    [InlineData("/public;x/../account")]
    public void Match_AnotherFormOfThePath_TheRuleThatCompressesLessApplies(string path)
    {
        var options = new CompressionOptions();
        options.Rules.Add(new CompressionRuleOptions { Name = "public", Path = "/public/**", CompressWithCredentials = true });
        options.Rules.Add(new CompressionRuleOptions { Name = "account", Path = "/account", Enabled = false });

        Assert.Equal("account", new CompressionPolicy(options).Match(path).Name);
    }

    [Fact]
    public void Quality_StoredAndStreamingLevels()
    {
        var policy = new CompressionPolicy(new CompressionOptions { StoredBrotliQuality = 11, StoredGzipLevel = 9, StreamingBrotliQuality = 1, StreamingGzipLevel = 2 });

        Assert.Equal((11, 9, 1, 2), (policy.Quality(ContentCoding.Brotli, true), policy.Quality(ContentCoding.Gzip, true), policy.Quality(ContentCoding.Brotli, false), policy.Quality(ContentCoding.Gzip, false)));
    }
}
