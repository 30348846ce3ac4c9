using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Tests.Caching.Rules;

public sealed class GlobTests
{
    [Theory]
    [InlineData("/static/**", "/static", true)]
    [InlineData("/static/**", "/static/a/b.css", true)]
    [InlineData("/static/**", "/staticx", false)]
    [InlineData("/api/*/items", "/api/v1/items", true)]
    [InlineData("/api/*/items", "/api/v1/v2/items", false)]
    [InlineData("/a/**/b", "/a/b", true)]
    [InlineData("/a/**/b", "/a/x/y/b", true)]
    [InlineData("/*.css", "/site.css", true)]
    [InlineData("/*.css", "/dir/site.css", false)]
    [InlineData("/Admin/**", "/admin/x", false)]
    [InlineData("/file?.txt", "/file1.txt", true)]
    public void CompilePath_MatchesSegmentsAsDocumented(string pattern, string path, bool expected)
    {
        Assert.Equal(expected, Glob.CompilePath(pattern).IsMatch(path));
    }

    [Theory]
    [InlineData("utm_*", "utm_source", true)]
    [InlineData("utm_*", "xutm_source", false)]
    [InlineData("fbclid", "fbclid", true)]
    [InlineData("f?clid", "fbclid", true)]
    [InlineData("*id", "fbclid", true)]
    public void IsMatch_SimpleGlobs(string pattern, string value, bool expected)
    {
        Assert.Equal(expected, Glob.IsMatch(pattern, value));
    }
}
