using System.Text;
using System.Text.RegularExpressions;

namespace ProxySidecar.Caching.Rules;

/// <summary>Globs of the cache rules: paths (<c>*</c> within a segment, <c>**</c> across) and query parameter names.</summary>
internal static class Glob
{
    /// <summary>
    /// A matcher for a path glob, case-sensitive unless <paramref name="ignoreCase"/>. <c>/static/**</c> matches <c>/static</c> and everything below it;
    /// <c>/a/**/b</c> matches <c>/a/b</c> and <c>/a/x/y/b</c>; <c>*.css</c> stays within one segment.
    /// </summary>
    public static Regex CompilePath(string pattern, bool ignoreCase = false)
    {
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                var slashBefore = regex.Length > 1 && regex[^1] == '/';
                var slashAfter = i + 2 < pattern.Length && pattern[i + 2] == '/';
                if (slashBefore && (slashAfter || i + 2 == pattern.Length))
                {
                    // "/**/" or trailing "/**": zero or more whole segments.
                    regex.Length--;
                    regex.Append(slashAfter ? "(?:/.*)?/" : "(?:/.*)?");
                    i += slashAfter ? 2 : 1;
                }
                else
                {
                    regex.Append(".*");
                    i++;
                }
            }
            else if (c == '*')
            {
                regex.Append("[^/]*");
            }
            else if (c == '?')
            {
                regex.Append("[^/]");
            }
            else
            {
                regex.Append(Regex.Escape(c.ToString()));
            }
        }

        regex.Append('$');
        // Linear-time matching whatever the pattern: no backtracking, so no timeout is needed.
        return new Regex(regex.ToString(), RegexOptions.CultureInvariant | RegexOptions.NonBacktracking | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None));
    }

    /// <summary>Matches a name against a simple glob (<c>*</c> any run, <c>?</c> one character), ordinal.</summary>
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> value)
    {
        int p = 0, v = 0, starP = -1, starV = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == value[v]))
            {
                p++;
                v++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                starP = p++;
                starV = v;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                v = ++starV;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
