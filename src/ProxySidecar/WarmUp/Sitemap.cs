using System.Xml;

namespace ProxySidecar.WarmUp;

internal enum SitemapKind
{
    /// <summary>&lt;urlset&gt;: pages.</summary>
    UrlSet,

    /// <summary>&lt;sitemapindex&gt;: other sitemaps.</summary>
    Index,
}

/// <summary>
/// Reads a sitemap (sitemaps.org protocol): the text of each &lt;loc&gt; of a &lt;urlset&gt; or a &lt;sitemapindex&gt;.
/// No DTD, no external entity, at most <see cref="CacheWarmer.MaxSitemapCharacters"/> characters.
/// </summary>
internal static class Sitemap
{
    public static async Task<(SitemapKind Kind, List<string> Locations)> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var settings = new XmlReaderSettings
        {
            Async = true,
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersInDocument = CacheWarmer.MaxSitemapCharacters,
            IgnoreComments = true,
            IgnoreWhitespace = true,
        };
        using var reader = XmlReader.Create(stream, settings);
        SitemapKind? kind = null;
        var locations = new List<string>();
        while (await reader.ReadAsync().ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (reader.NodeType != XmlNodeType.Element)
            {
                continue;
            }

            if (kind is null)
            {
                kind = reader.LocalName switch
                {
                    "urlset" => SitemapKind.UrlSet,
                    "sitemapindex" => SitemapKind.Index,
                    _ => throw new SitemapException($"<{reader.LocalName}> is not the root of a sitemap (<urlset> or <sitemapindex>)"),
                };
                continue;
            }

            if (reader.LocalName == "loc" && reader.Depth == 2)
            {
                var location = (await reader.ReadElementContentAsStringAsync().ConfigureAwait(false)).Trim();
                if (location.Length > 0)
                {
                    locations.Add(location);
                }
            }
        }

        return (kind ?? throw new SitemapException("the sitemap is empty"), locations);
    }
}
