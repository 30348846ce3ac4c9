using System.Globalization;
using System.Text.RegularExpressions;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Compression;

/// <summary>
/// One immutable snapshot of <c>Sidecar:Compression</c>: the levels, the media types and the compiled rules. Requests
/// read it with one volatile read; a reload publishes a new one.
/// </summary>
internal sealed class CompressionPolicy
{
    public CompressionPolicy(CompressionOptions options)
    {
        Settings = Describe(options);
        Enabled = options.Enabled;
        StoredBrotliQuality = options.StoredBrotliQuality;
        StoredGzipLevel = options.StoredGzipLevel;
        StreamingBrotliQuality = options.StreamingBrotliQuality;
        StreamingGzipLevel = options.StreamingGzipLevel;
        MediaTypes = new MediaTypes(options.MimeTypes.Count == 0 ? MediaTypes.Defaults : options.MimeTypes);
        Default = new CompressionRule("(default)", null, options.Enabled, options.CompressWithCredentials, options.MinimumBytes);
        Rules = [.. options.Rules.Select((rule, index) => new CompressionRule(
            string.IsNullOrWhiteSpace(rule.Name) ? "#" + index.ToString(CultureInfo.InvariantCulture) : rule.Name,
            rule.Path == "/**" ? null : Glob.CompilePath(rule.Path, rule.IgnoreCase),
            options.Enabled && (rule.Enabled ?? true),
            rule.CompressWithCredentials ?? options.CompressWithCredentials,
            rule.MinimumBytes ?? options.MinimumBytes))];
    }

    /// <summary>Every setting the policy was made from, as text: two policies with the same text behave the same.</summary>
    public string Settings { get; }

    public bool Enabled { get; }

    public int StoredBrotliQuality { get; }

    public int StoredGzipLevel { get; }

    public int StreamingBrotliQuality { get; }

    public int StreamingGzipLevel { get; }

    public MediaTypes MediaTypes { get; }

    /// <summary>The section's own settings, for paths no rule matches.</summary>
    public CompressionRule Default { get; }

    public CompressionRule[] Rules { get; }

    /// <summary>
    /// The rule for <paramref name="path"/> (the routed path): the first matching it, and the first matching its normalised
    /// form (<see cref="RulePath.Normalise"/>, as the cache rules are matched); when they differ, the one that compresses
    /// less applies.
    /// </summary>
    public CompressionRule Match(string path)
    {
        var routed = First(path);
        var normalised = RulePath.Normalise(path);
        if (ReferenceEquals(normalised, path))
        {
            return routed;
        }

        var other = First(normalised);
        return other.Looseness <= routed.Looseness ? other : routed;
    }

    public int Quality(ContentCoding coding, bool stored) => coding switch
    {
        ContentCoding.Brotli => stored ? StoredBrotliQuality : StreamingBrotliQuality,
        ContentCoding.Gzip => stored ? StoredGzipLevel : StreamingGzipLevel,
        _ => 0,
    };

    private static string Describe(CompressionOptions o) => string.Join(
        '\n',
        [
            string.Create(CultureInfo.InvariantCulture, $"{o.Enabled} {o.MinimumBytes} {o.StoredBrotliQuality} {o.StoredGzipLevel} {o.StreamingBrotliQuality} {o.StreamingGzipLevel} {o.CompressWithCredentials}"),
            string.Join(' ', o.MimeTypes),
            .. o.Rules.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Name}|{r.Path}|{r.IgnoreCase}|{r.Enabled}|{r.CompressWithCredentials}|{r.MinimumBytes}")),
        ]);

    private CompressionRule First(string path)
    {
        foreach (var rule in Rules)
        {
            if (rule.Path is null || rule.Path.IsMatch(path))
            {
                return rule;
            }
        }

        return Default;
    }
}

/// <summary>What applies to the paths one rule matches (the section's values where the rule sets none).</summary>
internal sealed class CompressionRule(string name, Regex? path, bool enabled, bool compressWithCredentials, int minimumBytes)
{
    public string Name { get; } = name;

    /// <summary>Null: every path.</summary>
    public Regex? Path { get; } = path;

    public bool Enabled { get; } = enabled;

    public bool CompressWithCredentials { get; } = compressWithCredentials;

    public int MinimumBytes { get; } = minimumBytes;

    /// <summary>0 when it compresses nothing, 1 when not for requests with credentials, 2 when for those too.</summary>
    public int Looseness => !Enabled ? 0 : CompressWithCredentials ? 2 : 1;
}
