using System.Text;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace ProxySidecar.Compression;

/// <summary>
/// Entity tags of compressed representations. A strong ETag claims byte equality, and the compressed bytes differ
/// from the app's, so a compressed response carries the app's strong tag with the coding appended inside the quotes
/// (<c>"abc"</c> → <c>"abc-br"</c>, <c>"abc-gzip"</c>); a weak tag already claims only equivalence and is kept.
/// The client sends the suffixed tag back in <c>If-None-Match</c> or <c>If-Match</c>; those are mapped back to the
/// app's tag before the cache or the app compares them, so revalidation and the app's own preconditions keep working.
/// <c>If-Range</c> is left alone: a range is only ever served from the app's bytes, which the suffixed tag does not name.
/// </summary>
internal static class EncodedValidators
{
    /// <summary>
    /// The tag of the <paramref name="coding"/> representation of a response whose tag is <paramref name="etag"/>:
    /// strong tags suffixed, weak ones kept. Null when <paramref name="etag"/> is not a valid entity tag (the field is then
    /// left out rather than let it claim anything about the compressed bytes).
    /// </summary>
    public static string? For(string etag, ContentCoding coding)
    {
        if (coding == ContentCoding.Identity)
        {
            return etag;
        }

        if (etag.StartsWith("W/\"", StringComparison.Ordinal) && etag.Length >= 4 && etag[^1] == '"')
        {
            return etag;
        }

        if (etag.Length < 2 || etag[0] != '"' || etag[^1] != '"')
        {
            return null;
        }

        return string.Concat(etag.AsSpan(0, etag.Length - 1), "-", coding.Name(), "\"");
    }

    /// <summary>
    /// Maps suffixed strong tags in the request's <c>If-None-Match</c> and <c>If-Match</c> back to the app's tags. Returns the
    /// tags of <c>If-None-Match</c> that were mapped, with their coding (so a 304 can name the representation the client
    /// holds); null when nothing was mapped.
    /// </summary>
    public static List<(string AppTag, ContentCoding Coding)>? MapRequest(IHeaderDictionary headers)
    {
        List<(string, ContentCoding)>? mapped = null;
        if (headers.TryGetValue(HeaderNames.IfNoneMatch, out var ifNoneMatch) && Map(ifNoneMatch, ref mapped, remember: true) is { } noneMatch)
        {
            headers.IfNoneMatch = noneMatch;
        }

        if (headers.TryGetValue(HeaderNames.IfMatch, out var ifMatch) && Map(ifMatch, ref mapped, remember: false) is { } match)
        {
            headers.IfMatch = match;
        }

        return mapped;
    }

    /// <summary>The representation's tag to put on a 304: the coding of the client's matching mapped tag, if any.</summary>
    public static ContentCoding? CodingOfClientTag(List<(string AppTag, ContentCoding Coding)>? mapped, string appTag)
    {
        if (mapped is null)
        {
            return null;
        }

        foreach (var (tag, coding) in mapped)
        {
            if (string.Equals(tag, appTag, StringComparison.Ordinal))
            {
                return coding;
            }
        }

        return null;
    }

    /// <summary>A strong tag ending in <c>-br"</c> or <c>-gzip"</c>: the app's tag and the coding; false for anything else.</summary>
    public static bool TryUnsuffix(ReadOnlySpan<char> tag, out string appTag, out ContentCoding coding)
    {
        appTag = string.Empty;
        coding = ContentCoding.Identity;
        if (tag.Length < 2 || tag[0] != '"' || tag[^1] != '"')
        {
            return false;
        }

        var inner = tag[1..^1];
        if (inner.Length > 3 && inner.EndsWith("-br", StringComparison.Ordinal))
        {
            coding = ContentCoding.Brotli;
            inner = inner[..^3];
        }
        else if (inner.Length > 5 && inner.EndsWith("-gzip", StringComparison.Ordinal))
        {
            coding = ContentCoding.Gzip;
            inner = inner[..^5];
        }
        else
        {
            return false;
        }

        appTag = string.Concat("\"", inner, "\"");
        return true;
    }

    private static StringValues? Map(StringValues values, ref List<(string, ContentCoding)>? mapped, bool remember)
    {
        StringBuilder? rewritten = null;
        var changed = false;
        foreach (var value in values)
        {
            foreach (var range in (value ?? string.Empty).AsSpan().Split(','))
            {
                var member = (value ?? string.Empty).AsSpan()[range].Trim();
                if (member.IsEmpty)
                {
                    continue;
                }

                rewritten ??= new StringBuilder();
                if (rewritten.Length > 0)
                {
                    rewritten.Append(", ");
                }

                if (TryUnsuffix(member, out var appTag, out var coding))
                {
                    changed = true;
                    rewritten.Append(appTag);
                    if (remember)
                    {
                        (mapped ??= []).Add((appTag, coding));
                    }
                }
                else
                {
                    rewritten.Append(member);
                }
            }
        }

        return changed ? new StringValues(rewritten!.ToString()) : (StringValues?)null;
    }
}
