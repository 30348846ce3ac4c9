namespace ProxySidecar.Compression;

/// <summary>
/// Compression of what the app sends uncompressed (<c>Sidecar:Compression</c>). Every setting reloads at run time;
/// a change that does not validate is rejected and the last good settings stay.
/// </summary>
public sealed class CompressionOptions
{
    public const string Section = "Sidecar:Compression";

    /// <summary>False: nothing is compressed and request validators are left alone.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Responses shorter than this (by Content-Length, or the stored body) are sent as they are.</summary>
    public int MinimumBytes { get; set; } = 1024;

    /// <summary>
    /// Media types to compress: <c>type/subtype</c>, <c>type/*</c> or <c>type/*+suffix</c>. Empty: the built-in list
    /// (text, JSON, JavaScript, XML, SVG, WebAssembly, fonts, icons). <c>text/event-stream</c> and gRPC never are.
    /// </summary>
    public IList<string> MimeTypes { get; } = [];

    /// <summary>Brotli quality (0–11) of the representations the cache stores: paid once per entry, on its first hit asking for Brotli.</summary>
    public int StoredBrotliQuality { get; set; } = 6;

    /// <summary>gzip level (1–9) of the representations the cache stores: paid once per entry, on its first hit asking for gzip.</summary>
    public int StoredGzipLevel { get; set; } = 6;

    /// <summary>Brotli quality (0–11) of responses compressed as they stream through (not from the cache): paid on every response.</summary>
    public int StreamingBrotliQuality { get; set; } = 3;

    /// <summary>gzip level (1–9) of responses compressed as they stream through (not from the cache): paid on every response.</summary>
    public int StreamingGzipLevel { get; set; } = 3;

    /// <summary>
    /// Compress responses to requests with credentials (Cookie, Authorization, a client certificate) that do not come
    /// from the shared cache. Off: such responses may hold a secret beside reflected input (BREACH).
    /// </summary>
    public bool CompressWithCredentials { get; set; }

    /// <summary>Ordered per-path overrides, first match wins.</summary>
    public IList<CompressionRuleOptions> Rules { get; } = [];
}

/// <summary>One rule of <c>Sidecar:Compression:Rules</c>: overrides for the paths it matches; unset values keep the section's.</summary>
public sealed class CompressionRuleOptions
{
    /// <summary>Shown in /status; defaults to the rule's position.</summary>
    public string? Name { get; set; }

    /// <summary>Path glob, as in the cache rules: <c>*</c> within a segment, <c>**</c> across, <c>?</c> one character.</summary>
    public string Path { get; set; } = "/**";

    /// <summary>Match <see cref="Path"/> without regard to case (default off).</summary>
    public bool IgnoreCase { get; set; }

    /// <summary>False: nothing under this path is compressed.</summary>
    public bool? Enabled { get; set; }

    /// <summary>True: compress here even for requests with credentials (the path holds no secrets beside reflected input).</summary>
    public bool? CompressWithCredentials { get; set; }

    /// <summary>The minimum size under this path.</summary>
    public int? MinimumBytes { get; set; }
}
