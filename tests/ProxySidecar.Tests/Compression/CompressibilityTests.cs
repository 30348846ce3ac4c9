using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Compression;

namespace ProxySidecar.Tests.Compression;

public sealed class CompressibilityTests
{
    private static readonly CompressionPolicy Policy = new(new CompressionOptions { MinimumBytes = 100 });

    [Theory]
    [InlineData(200, "text/html", false, false, false, 1000L, true)]
    [InlineData(200, "text/html", false, false, false, null, true)]
    [InlineData(404, "text/html", false, false, false, 1000L, true)]
    [InlineData(500, "application/json", false, false, false, 1000L, true)]
    [InlineData(200, "text/html", false, false, false, 99L, false)]
    [InlineData(200, "text/html", false, false, false, 100L, true)]
    [InlineData(200, "text/html", false, false, false, 0L, false)]
    [InlineData(200, "text/html", true, false, false, 1000L, false)]
    [InlineData(200, "text/html", false, true, false, 1000L, false)]
    [InlineData(200, "text/html", false, false, true, 1000L, false)]
    [InlineData(200, "image/png", false, false, false, 1000L, false)]
    [InlineData(200, null, false, false, false, 1000L, false)]
    [InlineData(200, "text/event-stream", false, false, false, null, false)]
    [InlineData(200, "application/grpc", false, false, false, null, false)]
    [InlineData(101, "text/html", false, false, false, null, false)]
    [InlineData(204, "text/html", false, false, false, null, false)]
    [InlineData(205, "text/html", false, false, false, null, false)]
    [InlineData(206, "text/html", false, false, false, 1000L, false)]
    [InlineData(304, "text/html", false, false, false, null, false)]
    public void ResponseAllows_OnlyUncompressedListedContentOfSomeSize(int status, string? type, bool contentEncoding, bool contentRange, bool noTransform, long? length, bool expected)
    {
        Assert.Equal(expected, Compressibility.ResponseAllows(status, type, contentEncoding, contentRange, noTransform, length, Policy, Policy.Default));
    }

    [Theory]
    [InlineData("no-transform", true)]
    [InlineData("public, No-Transform, max-age=60", true)]
    [InlineData("max-age=60", false)]
    [InlineData("no-transformation", false)]
    [InlineData("x=\"no-transform\"", false)]
    public void HasNoTransform_IsADirective(string value, bool expected)
    {
        Assert.Equal(expected, Compressibility.HasNoTransform(new StringValues(value)));
    }

    [Theory]
    [InlineData("GET", null, null, null, "br")]
    [InlineData("HEAD", null, null, null, "identity")]
    [InlineData("GET", "bytes=0-10", null, null, "identity")]
    [InlineData("GET", null, "no-transform", null, "identity")]
    [InlineData("POST", null, null, "application/grpc", "identity")]
    [InlineData("POST", null, null, "application/json", "br")]
    public void Accepted_HeadRangeNoTransformAndGrpc_AreIdentity(string method, string? range, string? cacheControl, string? contentType, string expected)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Headers.AcceptEncoding = "gzip, br";
        if (range is not null)
        {
            context.Request.Headers.Range = range;
        }

        if (cacheControl is not null)
        {
            context.Request.Headers.CacheControl = cacheControl;
        }

        if (contentType is not null)
        {
            context.Request.ContentType = contentType;
        }

        Assert.Equal(expected, Compressibility.Accepted(context.Request).Name());
    }

    [Theory]
    [InlineData(null, null, false)]
    [InlineData("Bearer x", null, true)]
    [InlineData(null, "sid=1", true)]
    [InlineData(null, " ", false)]
    public void HasCredentials_AuthorizationOrCookie(string? authorization, string? cookie, bool expected)
    {
        var context = new DefaultHttpContext();
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        if (cookie is not null)
        {
            context.Request.Headers.Cookie = cookie;
        }

        Assert.Equal(expected, Compressibility.HasCredentials(context));
    }

    [Theory]
    [InlineData(null, "Accept-Encoding")]
    [InlineData("Accept-Language", "Accept-Language,Accept-Encoding")]
    [InlineData("accept-encoding", "accept-encoding")]
    [InlineData("Origin, Accept-Encoding", "Origin, Accept-Encoding")]
    [InlineData("*", "*")]
    public void AddVary_NamesAcceptEncodingOnce(string? vary, string expected)
    {
        IHeaderDictionary headers = new HeaderDictionary();
        if (vary is not null)
        {
            headers.Vary = vary;
        }

        CompressionFeature.AddVary(headers);

        Assert.Equal(expected, headers.Vary.ToString());
    }
}

/// <summary>The plan for a stored entry: worked out once per policy snapshot and kept on the entry for the next hits.</summary>
public sealed class StoredEntryPlanTests
{
    [Fact]
    public void PlanFor_StoredEntry_FollowsANewPolicySnapshot()
    {
        var entry = new ProxySidecar.Caching.Stores.CacheEntry
        {
            Kind = ProxySidecar.Caching.Stores.RecordKind.Response,
            VaryNames = [],
            Status = 200,
            Headers = [new("Content-Type", "text/html")],
            Body = new byte[2048],
        };
        var compressing = new CompressionPolicy(new CompressionOptions { MinimumBytes = 100 });
        var larger = new CompressionPolicy(new CompressionOptions { MinimumBytes = 4096 });

        // Twice under one snapshot (the second from what the entry keeps), then a snapshot that rules it out, then back.
        Assert.Equal(new EncodingPlan(true, ContentCoding.Brotli), Plan(compressing, entry));
        var kept = entry.CompressionVerdict;
        Assert.NotNull(kept);
        Assert.Equal(new EncodingPlan(true, ContentCoding.Brotli), Plan(compressing, entry));
        Assert.Same(kept, entry.CompressionVerdict);
        Assert.Equal(EncodingPlan.None, Plan(larger, entry));
        Assert.Equal(new EncodingPlan(true, ContentCoding.Brotli), Plan(compressing, entry));
    }

    [Fact]
    public void PlanFor_StoredEntry_EachEntryHasItsOwnVerdict()
    {
        var policy = new CompressionPolicy(new CompressionOptions { MinimumBytes = 100 });
        var html = new ProxySidecar.Caching.Stores.CacheEntry
        {
            Kind = ProxySidecar.Caching.Stores.RecordKind.Response, VaryNames = [], Status = 200, Headers = [new("Content-Type", "text/html")], Body = new byte[2048],
        };
        var png = new ProxySidecar.Caching.Stores.CacheEntry
        {
            Kind = ProxySidecar.Caching.Stores.RecordKind.Response, VaryNames = [], Status = 200, Headers = [new("Content-Type", "image/png")], Body = new byte[2048],
        };

        Assert.Equal(new EncodingPlan(true, ContentCoding.Brotli), Plan(policy, html));
        Assert.Equal(EncodingPlan.None, Plan(policy, png));
        Assert.Equal(new EncodingPlan(true, ContentCoding.Brotli), Plan(policy, html));
    }

    private static EncodingPlan Plan(CompressionPolicy policy, ProxySidecar.Caching.Stores.CacheEntry entry) =>
        new CompressionFeature(policy, policy.Default, ContentCoding.Brotli, credentials: false, mappedTags: null).PlanFor(entry);
}
