using ProxySidecar.Compression;

namespace ProxySidecar.Tests.Compression;

public sealed class CompressionOptionsValidatorTests
{
    private static IReadOnlyList<string> Errors(CompressionOptions options)
    {
        var result = new CompressionOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures] : [];
    }

    [Fact]
    public void Defaults_AreValid()
    {
        Assert.Empty(Errors(new CompressionOptions()));
    }

    [Fact]
    public void EveryBadValue_IsNamedWithItsKeyAndAFix()
    {
        var options = new CompressionOptions
        {
            MinimumBytes = -1,
            StoredBrotliQuality = 12,
            StreamingBrotliQuality = -1,
            StoredGzipLevel = 0,
            StreamingGzipLevel = 10,
        };
        options.MimeTypes.Add("json");
        options.MimeTypes.Add("text/event-stream");
        options.MimeTypes.Add("*/*");
        options.Rules.Add(new CompressionRuleOptions { Path = "static/**", MinimumBytes = -5 });
        options.Rules.Add(new CompressionRuleOptions { Path = "/x", Enabled = false, CompressWithCredentials = true });

        var errors = Errors(options);

        Assert.Equal(11, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:MinimumBytes: -1 is out of range. Use", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:StoredBrotliQuality: 12 is not a Brotli quality. Use 0 to 11", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:StreamingBrotliQuality: -1 is not a Brotli quality.", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:StoredGzipLevel: 0 is not a gzip level. Use 1 to 9", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:StreamingGzipLevel: 10 is not a gzip level.", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:MimeTypes:0: \"json\" is not a media type pattern. Use", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:MimeTypes:1: \"text/event-stream\" is never compressed", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:MimeTypes:2: \"*/*\" is not a media type pattern.", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:Rules:0:Path: \"static/**\" must start with '/'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:Rules:0:MinimumBytes: -5 is out of range.", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Sidecar:Compression:Rules:1:Enabled: false, so CompressWithCredentials means nothing there.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("text/*")]
    [InlineData("application/*+json")]
    [InlineData("application/vnd.ms-fontobject")]
    [InlineData(" image/svg+xml ")]
    public void MimeTypes_Patterns_AreAccepted(string pattern)
    {
        var options = new CompressionOptions();
        options.MimeTypes.Add(pattern);

        Assert.Empty(Errors(options));
    }
}
