using System.Collections.Frozen;

namespace ProxySidecar.Compression;

/// <summary>
/// The media types worth compressing, compiled from <c>type/subtype</c>, <c>type/*</c> and <c>type/*+suffix</c> patterns.
/// <c>text/event-stream</c> (a stream of events, flushed one by one) and gRPC (framed, with its own compression) never
/// match, whatever the list says.
/// </summary>
internal sealed class MediaTypes
{
    /// <summary>The list used when <c>Sidecar:Compression:MimeTypes</c> is empty.</summary>
    public static readonly string[] Defaults =
    [
        "text/*",
        "application/json",
        "application/*+json",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "application/xml",
        "application/*+xml",
        "application/yaml",
        "application/x-yaml",
        "application/wasm",
        "application/x-www-form-urlencoded",
        "application/vnd.ms-fontobject",
        "image/svg+xml",
        "image/x-icon",
        "image/vnd.microsoft.icon",
        "image/bmp",
        "font/ttf",
        "font/otf",
        "font/collection",
    ];

    private readonly FrozenSet<string> _exact;
    private readonly string[] _typePrefixes;
    private readonly (string Prefix, string Suffix)[] _suffixed;

    public MediaTypes(IEnumerable<string> patterns)
    {
        var exact = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var prefixes = new List<string>();
        var suffixed = new List<(string, string)>();
        foreach (var raw in patterns)
        {
            var pattern = raw.Trim().ToLowerInvariant();
            var slash = pattern.IndexOf('/', StringComparison.Ordinal);
            var subtype = pattern[(slash + 1)..];
            if (subtype == "*")
            {
                prefixes.Add(pattern[..(slash + 1)]);
            }
            else if (subtype.StartsWith("*+", StringComparison.Ordinal))
            {
                suffixed.Add((pattern[..(slash + 1)], subtype[1..]));
            }
            else
            {
                exact.Add(pattern);
            }
        }

        _exact = exact.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        _typePrefixes = [.. prefixes];
        _suffixed = [.. suffixed];
        Patterns = [.. patterns.Select(p => p.Trim())];
    }

    public string[] Patterns { get; }

    /// <summary>
    /// A pattern as the settings accept it: <c>type/subtype</c>, <c>type/*</c> or <c>type/*+suffix</c>, each part a token.
    /// </summary>
    public static bool IsValidPattern(string? pattern)
    {
        var text = pattern?.Trim() ?? string.Empty;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == text.Length - 1)
        {
            return false;
        }

        var type = text[..slash];
        var subtype = text[(slash + 1)..];
        if (subtype.StartsWith("*+", StringComparison.Ordinal))
        {
            subtype = subtype[2..];
        }
        else if (subtype == "*")
        {
            subtype = "x";
        }

        return type != "*" && IsToken(type) && IsToken(subtype);
    }

    /// <summary>Never compressed, whatever the list: event streams (not buffered) and gRPC.</summary>
    public static bool IsNever(ReadOnlySpan<char> mediaType) =>
        mediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase)
        || mediaType.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when <paramref name="contentType"/> (parameters allowed) is one of the listed types and not a never.</summary>
    public bool Matches(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return false;
        }

        var mediaType = MediaTypeOf(contentType);
        if (mediaType.IsEmpty || IsNever(mediaType))
        {
            return false;
        }

        var lookup = _exact.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.Contains(mediaType))
        {
            return true;
        }

        foreach (var prefix in _typePrefixes)
        {
            if (mediaType.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        foreach (var (prefix, suffix) in _suffixed)
        {
            if (mediaType.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && mediaType.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && mediaType.Length > prefix.Length + suffix.Length)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The <c>type/subtype</c> of a Content-Type value, without parameters or whitespace.</summary>
    public static ReadOnlySpan<char> MediaTypeOf(string contentType)
    {
        var span = contentType.AsSpan();
        var semicolon = span.IndexOf(';');
        return (semicolon < 0 ? span : span[..semicolon]).Trim();
    }

    private static bool IsToken(string value) => Caching.CacheOptionsValidator.IsToken(value);
}
