using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Caching;

/// <summary>
/// A single byte range of a GET answered from a stored 200 (RFC 9110 §14): <c>bytes=first-last</c>, <c>bytes=first-</c>
/// and <c>bytes=-suffix</c>. Several ranges, another unit or a malformed value are ignored (the whole entry is
/// served, as RFC 9110 §14.2 allows); <c>If-Range</c> must match the entry (a strong ETag, or the Last-Modified date
/// exactly) or the range is ignored.
/// </summary>
internal readonly record struct ByteRange(long First, long Last, bool Satisfiable)
{
    public long Length => Last - First + 1;

    /// <summary>The range <paramref name="request"/> asks of <paramref name="entry"/>; false when the whole entry is to be served.</summary>
    public static bool TryGet(HttpRequest request, CacheEntry entry, out ByteRange range)
    {
        range = default;
        if (!HttpMethods.IsGet(request.Method) || entry.Status != StatusCodes.Status200OK || request.Headers.Range is not { Count: 1 } header
            || !TryParse(header[0], entry.Body.Length, out range))
        {
            return false;
        }

        return IfRangeAllows(request.Headers.IfRange, entry);
    }

    /// <summary>Parses one <c>bytes</c> range against a representation of <paramref name="length"/> bytes.</summary>
    public static bool TryParse(string? value, long length, out ByteRange range)
    {
        range = default;
        var text = (value ?? string.Empty).AsSpan().Trim();
        const string unit = "bytes=";
        if (!text.StartsWith(unit, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var spec = text[unit.Length..].Trim();
        var dash = spec.IndexOf('-');
        if (dash < 0 || spec.Contains(','))
        {
            return false;
        }

        var firstText = spec[..dash].Trim();
        var lastText = spec[(dash + 1)..].Trim();
        if (firstText.IsEmpty)
        {
            // bytes=-N: the last N bytes; -0, or any suffix of an empty representation, cannot be satisfied.
            if (!Digits(lastText, out var suffix))
            {
                return false;
            }

            range = suffix == 0 || length == 0 ? new ByteRange(0, -1, false) : new ByteRange(Math.Max(0, length - suffix), length - 1, true);
            return true;
        }

        if (!Digits(firstText, out var first))
        {
            return false;
        }

        long last;
        if (lastText.IsEmpty)
        {
            last = length - 1;
        }
        else if (!Digits(lastText, out last) || last < first)
        {
            return false;
        }

        range = first >= length ? new ByteRange(0, -1, false) : new ByteRange(first, Math.Min(last, length - 1), true);
        return true;
    }

    /// <summary>RFC 9110 §13.1.5: If-Range holds a strong ETag equal to the entry's, or exactly the entry's Last-Modified.</summary>
    private static bool IfRangeAllows(Microsoft.Extensions.Primitives.StringValues ifRange, CacheEntry entry)
    {
        if (ifRange.Count == 0)
        {
            return true;
        }

        var value = ifRange.ToString().Trim();
        if (value.StartsWith('"') || value.StartsWith("W/", StringComparison.Ordinal))
        {
            return !value.StartsWith("W/", StringComparison.Ordinal) && entry.ETag is { } etag && !etag.StartsWith("W/", StringComparison.Ordinal)
                && string.Equals(etag, value, StringComparison.Ordinal);
        }

        return entry.LastModified is { } lastModified && string.Equals(lastModified.Trim(), value, StringComparison.Ordinal)
            && Freshness.TryParseDate(value, out _);
    }

    private static bool Digits(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 18)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }

    /// <summary>The Content-Range of a 206 or, unsatisfiable, of a 416.</summary>
    public string ContentRange(long length) =>
        Satisfiable
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"bytes {First}-{Last}/{length}")
            : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"bytes */{length}");
}
