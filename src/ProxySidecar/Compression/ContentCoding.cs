using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace ProxySidecar.Compression;

/// <summary>The content codings the sidecar produces (RFC 9110 §8.4.1), identity being none.</summary>
internal enum ContentCoding : byte
{
    Identity = 0,
    Gzip = 1,
    Brotli = 2,
}

/// <summary>Content-coding names, and the choice among them by the client's <c>Accept-Encoding</c> (RFC 9110 §12.5.3).</summary>
internal static class ContentCodings
{
    public const string GzipName = "gzip";
    public const string BrotliName = "br";

    public static string Name(this ContentCoding coding) => coding switch
    {
        ContentCoding.Brotli => BrotliName,
        ContentCoding.Gzip => GzipName,
        _ => "identity",
    };

    public static bool TryParse(string? name, out ContentCoding coding)
    {
        coding = name switch
        {
            BrotliName => ContentCoding.Brotli,
            GzipName => ContentCoding.Gzip,
            _ => ContentCoding.Identity,
        };
        return coding != ContentCoding.Identity;
    }

    /// <summary>
    /// The coding to send for <paramref name="acceptEncoding"/>: Brotli or gzip by the client's weights, Brotli when they
    /// tie; identity when the header is absent or empty, when neither is acceptable (<c>q=0</c>, or not named and no
    /// <c>*</c>), or when the client weighs identity above both. A member that does not parse is ignored.
    /// </summary>
    public static ContentCoding Negotiate(StringValues acceptEncoding)
    {
        if (acceptEncoding.Count == 0)
        {
            return ContentCoding.Identity;
        }

        int? brotli = null, gzip = null, identity = null, any = null;
        foreach (var value in acceptEncoding)
        {
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            foreach (var range in value.AsSpan().Split(','))
            {
                var member = value.AsSpan()[range].Trim();
                if (member.IsEmpty)
                {
                    continue;
                }

                var semicolon = member.IndexOf(';');
                var name = (semicolon < 0 ? member : member[..semicolon]).Trim();
                var weight = 1000;
                if (semicolon >= 0 && !TryParseWeight(member[(semicolon + 1)..], out weight))
                {
                    continue;
                }

                if (name.Equals(BrotliName, StringComparison.OrdinalIgnoreCase))
                {
                    brotli = Math.Max(brotli ?? 0, weight);
                }
                else if (name.Equals(GzipName, StringComparison.OrdinalIgnoreCase) || name.Equals("x-gzip", StringComparison.OrdinalIgnoreCase))
                {
                    gzip = Math.Max(gzip ?? 0, weight);
                }
                else if (name.Equals("identity", StringComparison.OrdinalIgnoreCase))
                {
                    identity = Math.Max(identity ?? 0, weight);
                }
                else if (name.SequenceEqual("*"))
                {
                    any = Math.Max(any ?? 0, weight);
                }
            }
        }

        var brotliWeight = brotli ?? any ?? 0;
        var gzipWeight = gzip ?? any ?? 0;
        var best = Math.Max(brotliWeight, gzipWeight);
        if (best == 0 || (identity is { } identityWeight && identityWeight > best))
        {
            return ContentCoding.Identity;
        }

        return brotliWeight >= gzipWeight ? ContentCoding.Brotli : ContentCoding.Gzip;
    }

    /// <summary>
    /// <c>q=</c> followed by a weight (RFC 9110 §12.4.2: 0 to 1, at most three decimals), in thousandths. Parameters
    /// other than q make the member unusable.
    /// </summary>
    private static bool TryParseWeight(ReadOnlySpan<char> parameters, out int weight)
    {
        weight = 0;
        var text = parameters.Trim();
        if (text.Length < 3 || (text[0] != 'q' && text[0] != 'Q') || text[1] != '=')
        {
            return false;
        }

        text = text[2..].Trim();
        if (text.Length > 5 || !decimal.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value > 1m)
        {
            return false;
        }

        weight = (int)(value * 1000m);
        return true;
    }
}
