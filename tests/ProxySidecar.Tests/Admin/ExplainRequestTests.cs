using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Admin;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Tests.Admin;

public sealed class ExplainRequestTests
{
    [Fact]
    public void Parse_HeadersLikeCurl_AndFromTheBody()
    {
        var query = new QueryCollection(new Dictionary<string, StringValues>
        {
            ["url"] = "https://www.example.com/a?b=1",
            ["header"] = new(["Cookie: session=1", "Accept-Language:  de "]),
            ["method"] = "head",
        });
        var body = new ExplainBody(null, null, new() { ["Authorization"] = "Bearer x" }, true);

        var request = ExplainEndpoint.Parse(query, body, out var problem)!;

        Assert.Null(problem);
        Assert.Equal("https://www.example.com/a?b=1", request.Url.AbsoluteUri);
        Assert.Equal("HEAD", request.Method);
        Assert.Equal(
            [new("Cookie", "session=1"), new("Accept-Language", "de"), new KeyValuePair<string, string>("Authorization", "Bearer x")],
            request.Headers);
        Assert.True(request.ClientCertificate);
    }

    [Theory]
    [InlineData("https://a.example/x", "https://a.example/y", "Name exactly one URL")]
    [InlineData("ftp://a.example/x", null, "url must be an absolute http(s) URL")]
    public void Parse_NotExactlyOneHttpUrl_IsRefused(string first, string? second, string expected)
    {
        var query = new QueryCollection(new Dictionary<string, StringValues> { ["url"] = first });
        var body = second is null ? null : new ExplainBody(second, null, null, null);

        Assert.Null(ExplainEndpoint.Parse(query, body, out var problem));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AHeaderValueWithALineBreak_IsRefused()
    {
        var body = new ExplainBody("https://a.example/", null, new() { ["X-A"] = "a\r\nX-B: b" }, null);

        Assert.Null(ExplainEndpoint.Parse(QueryCollection.Empty, body, out var problem));
        Assert.Contains("is not a valid header", problem, StringComparison.Ordinal);
    }

    /// <summary>The synthetic request is the one Kestrel would hand over for that URL: the key is the one a client gets.</summary>
    [Theory]
    [InlineData("https://WWW.Example.com/Products/%7e42?page=2", "https://www.example.com/Products/~42?page=2")]
    [InlineData("https://www.example.com:8443/a%2Fb?x=%3f", "https://www.example.com:8443/a%2Fb?x=%3F")]
    [InlineData("http://www.example.com:80/", "http://www.example.com/")]
    public void Synthetic_HasTheKeyOfTheUrlAsPurgeComputesIt(string url, string key)
    {
        var uri = new Uri(url);
        var http = CacheExplainer.Synthetic(new ExplainRequest(uri, "GET", [], false), CancellationToken.None);
        var policy = new CachePolicy(new CacheOptions());

        var context = CacheRequestContext.Create(http, policy);

        Assert.Equal(key, context.Primary);
        Assert.Equal(CacheKey.PrimaryFor(uri, policy), context.Primary);
        Assert.Equal(uri.PathAndQuery, http.Features.Get<IHttpRequestFeature>()!.RawTarget);
    }
}
