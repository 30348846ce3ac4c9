using System.Text;

namespace ProxySidecar.Caching.Rules;

/// <summary>
/// The forms of a request path the rules are matched against. Apps and the frameworks they run on read a path
/// in ways the routed path does not show: <c>//</c> as <c>/</c>, <c>;</c> parameters dropped, <c>%2F</c> as
/// <c>/</c>, dot segments resolved after decoding. So a rule meant for <c>/api/**</c> must also catch
/// <c>//api/me</c>, <c>/api;x/me</c> and <c>/api%2Fme</c>.
/// </summary>
internal static class RulePath
{
    /// <summary>
    /// The routed path (decoded by the server except <c>%2F</c>) with <c>%2F</c> and <c>\</c> read as <c>/</c>,
    /// <c>;</c> parameters removed from every segment, empty segments collapsed and dot segments resolved.
    /// Returns <paramref name="path"/> itself when none of that changes anything.
    /// </summary>
    public static string Normalise(string path)
    {
        if (!NeedsWork(path))
        {
            return path;
        }

        var text = path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase)
            .Replace("%5C", "/", StringComparison.OrdinalIgnoreCase)
            .Replace('\\', '/');
        var segments = new List<string>();
        foreach (var raw in text.Split('/'))
        {
            var semicolon = raw.IndexOf(';', StringComparison.Ordinal);
            var segment = semicolon < 0 ? raw : raw[..semicolon];
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }

            if (segment == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }

                continue;
            }

            segments.Add(segment);
        }

        var builder = new StringBuilder(path.Length);
        foreach (var segment in segments)
        {
            builder.Append('/').Append(segment);
        }

        if (builder.Length == 0 || text.EndsWith('/') || text.EndsWith("/.", StringComparison.Ordinal) || text.EndsWith("/..", StringComparison.Ordinal))
        {
            builder.Append('/');
        }

        var normalised = builder.ToString();
        return normalised == path ? path : normalised;
    }

    private static bool NeedsWork(string path)
    {
        for (var i = 0; i < path.Length; i++)
        {
            switch (path[i])
            {
                case ';':
                case '\\':
                    return true;
                case '%' when i + 2 < path.Length && ((path[i + 1] == '2' && path[i + 2] is 'F' or 'f') || (path[i + 1] == '5' && path[i + 2] is 'C' or 'c')):
                    return true;
                case '/' when i + 1 < path.Length && path[i + 1] == '/':
                    return true;
                case '.' when i > 0 && path[i - 1] == '/' && (i + 1 == path.Length || path[i + 1] == '/' || (path[i + 1] == '.' && (i + 2 == path.Length || path[i + 2] == '/'))):
                    return true;
            }
        }

        return false;
    }
}
