using Microsoft.Extensions.Primitives;
using ProxySidecar.Admin;

namespace ProxySidecar.Tests.Admin;

public sealed class PurgeRequestTests
{
    [Fact]
    public void Parse_Url_AbsoluteHttpsUrl()
    {
        var request = PurgeRequest.Parse(Params(("url", "https://www.example.com/a?b=1")), out _);

        Assert.Equal(PurgeKind.Url, request!.Kind);
        Assert.Equal(new Uri("https://www.example.com/a?b=1"), request.Url);
        Assert.False(request.Soft);
    }

    [Fact]
    public void Parse_TagWithSoft_SoftTagPurge()
    {
        var request = PurgeRequest.Parse(Params(("tag", "products"), ("soft", "true")), out _);

        Assert.Equal(PurgeKind.Tag, request!.Kind);
        Assert.Equal("products", request.Tag);
        Assert.True(request.Soft);
    }

    [Fact]
    public void Parse_AllTrue_Everything()
    {
        Assert.Equal(PurgeKind.All, PurgeRequest.Parse(Params(("all", "true")), out _)!.Kind);
    }

    [Fact]
    public void Parse_NoTarget_SaysWhatToSend()
    {
        Assert.Null(PurgeRequest.Parse(Params(("soft", "true")), out var problem));
        Assert.Contains("url=", problem, StringComparison.Ordinal);
        Assert.Contains("tag=", problem, StringComparison.Ordinal);
        Assert.Contains("all=true", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("url", "tag")]
    [InlineData("tag", "all")]
    [InlineData("tag", "tag")]
    public void Parse_SeveralTargets_Refused(string first, string second)
    {
        var parameters = first == second
            ? new Dictionary<string, StringValues>(StringComparer.OrdinalIgnoreCase) { [first] = new StringValues(["a", "b"]) }
            : Params((first, first == "all" ? "true" : "https://x.example/"), (second, second == "all" ? "true" : "x"));

        Assert.Null(PurgeRequest.Parse(parameters, out var problem));
        Assert.Contains("exactly one", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/relative/path")]
    [InlineData("ftp://example.com/file")]
    [InlineData("not a url")]
    public void Parse_BadUrl_SaysWhatAUrlMustLookLike(string url)
    {
        Assert.Null(PurgeRequest.Parse(Params(("url", url)), out var problem));
        Assert.Contains("absolute http(s) URL", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_AllFalse_Refused()
    {
        Assert.Null(PurgeRequest.Parse(Params(("all", "false")), out var problem));
        Assert.Contains("all=true", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SoftNotABoolean_Refused()
    {
        Assert.Null(PurgeRequest.Parse(Params(("tag", "x"), ("soft", "maybe")), out var problem));
        Assert.Contains("soft", problem, StringComparison.Ordinal);
    }

    private static Dictionary<string, StringValues> Params(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, p => new StringValues(p.Value), StringComparer.OrdinalIgnoreCase);
}
