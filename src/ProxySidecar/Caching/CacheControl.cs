using Microsoft.Extensions.Primitives;

namespace ProxySidecar.Caching;

/// <summary>
/// The Cache-Control directives this cache acts on (RFC 9111 §5.2), for requests and responses.
/// Unknown directives are ignored; a duplicated directive takes its most restrictive value (the shortest
/// max-age, s-maxage, max-stale and stale windows, the longest min-fresh); an invalid delta-seconds value
/// (a decimal, a sign, letters, spaces around '=') counts as 0 (stale), except max-stale, which then means
/// "any staleness".
/// </summary>
internal struct CacheControl
{
    public const int Unlimited = int.MaxValue;

    public bool NoStore;
    public bool NoCache;
    public bool Private;
    public bool Public;
    public bool MustRevalidate;
    public bool ProxyRevalidate;
    public bool OnlyIfCached;
    public int? MaxAge;
    public int? SharedMaxAge;
    public int? MaxStale;
    public int? MinFresh;
    public int? StaleWhileRevalidate;
    public int? StaleIfError;

    /// <summary>True when at least one directive was recognised or the field had any content.</summary>
    public bool Present;

    public static CacheControl Parse(StringValues values)
    {
        var result = default(CacheControl);
        foreach (var value in values)
        {
            if (!string.IsNullOrEmpty(value))
            {
                Parse(value.AsSpan(), ref result);
            }
        }

        return result;
    }

    public static CacheControl Parse(string? value)
    {
        var result = default(CacheControl);
        if (!string.IsNullOrEmpty(value))
        {
            Parse(value.AsSpan(), ref result);
        }

        return result;
    }

    private static void Parse(ReadOnlySpan<char> text, ref CacheControl result)
    {
        var i = 0;
        while (i < text.Length)
        {
            // Skip separators and whitespace.
            while (i < text.Length && (text[i] == ',' || text[i] == ' ' || text[i] == '\t'))
            {
                i++;
            }

            var nameStart = i;
            while (i < text.Length && text[i] != '=' && text[i] != ',' && text[i] != ' ' && text[i] != '\t')
            {
                i++;
            }

            var name = text[nameStart..i];
            var spaced = false;
            while (i < text.Length && (text[i] == ' ' || text[i] == '\t'))
            {
                spaced = true;
                i++;
            }

            ReadOnlySpan<char> argument = default;
            var hasArgument = false;
            if (i < text.Length && text[i] == '=')
            {
                hasArgument = true;
                i++;

                // RFC 9111 §5.2: token [ "=" ( token / quoted-string ) ], no whitespace around "=": such a value is invalid.
                while (i < text.Length && (text[i] == ' ' || text[i] == '\t'))
                {
                    spaced = true;
                    i++;
                }

                if (i < text.Length && text[i] == '"')
                {
                    var start = ++i;
                    while (i < text.Length && text[i] != '"')
                    {
                        if (text[i] == '\\')
                        {
                            i++;
                        }

                        i++;
                    }

                    argument = text[start..Math.Min(i, text.Length)];
                    i++;
                }
                else
                {
                    var start = i;
                    while (i < text.Length && text[i] != ',')
                    {
                        i++;
                    }

                    argument = text[start..i].TrimEnd();
                }
            }

            // Skip to the next comma.
            while (i < text.Length && text[i] != ',')
            {
                i++;
            }

            if (name.IsEmpty)
            {
                continue;
            }

            result.Present = true;
            Apply(name, hasArgument, hasArgument && spaced ? "invalid" : argument, ref result);
        }
    }

    private static void Apply(ReadOnlySpan<char> name, bool hasArgument, ReadOnlySpan<char> argument, ref CacheControl result)
    {
        if (name.Equals("no-store", StringComparison.OrdinalIgnoreCase))
        {
            result.NoStore = true;
        }
        else if (name.Equals("no-cache", StringComparison.OrdinalIgnoreCase))
        {
            // A qualified no-cache="field" is treated as unqualified: always revalidate.
            result.NoCache = true;
        }
        else if (name.Equals("private", StringComparison.OrdinalIgnoreCase))
        {
            // A qualified private="field" is treated as unqualified: a shared cache does not store it.
            result.Private = true;
        }
        else if (name.Equals("public", StringComparison.OrdinalIgnoreCase))
        {
            result.Public = true;
        }
        else if (name.Equals("must-revalidate", StringComparison.OrdinalIgnoreCase))
        {
            result.MustRevalidate = true;
        }
        else if (name.Equals("proxy-revalidate", StringComparison.OrdinalIgnoreCase))
        {
            result.ProxyRevalidate = true;
        }
        else if (name.Equals("only-if-cached", StringComparison.OrdinalIgnoreCase))
        {
            result.OnlyIfCached = true;
        }
        else if (name.Equals("max-age", StringComparison.OrdinalIgnoreCase))
        {
            result.MaxAge = Shortest(result.MaxAge, Seconds(hasArgument, argument) ?? 0);
        }
        else if (name.Equals("s-maxage", StringComparison.OrdinalIgnoreCase))
        {
            result.SharedMaxAge = Shortest(result.SharedMaxAge, Seconds(hasArgument, argument) ?? 0);
        }
        else if (name.Equals("max-stale", StringComparison.OrdinalIgnoreCase))
        {
            result.MaxStale = Shortest(result.MaxStale, hasArgument ? Seconds(hasArgument, argument) ?? Unlimited : Unlimited);
        }
        else if (name.Equals("min-fresh", StringComparison.OrdinalIgnoreCase))
        {
            result.MinFresh = Math.Max(result.MinFresh ?? 0, Seconds(hasArgument, argument) ?? 0);
        }
        else if (name.Equals("stale-while-revalidate", StringComparison.OrdinalIgnoreCase))
        {
            result.StaleWhileRevalidate = Shortest(result.StaleWhileRevalidate, Seconds(hasArgument, argument) ?? 0);
        }
        else if (name.Equals("stale-if-error", StringComparison.OrdinalIgnoreCase))
        {
            result.StaleIfError = Shortest(result.StaleIfError, Seconds(hasArgument, argument) ?? 0);
        }
    }

    private static int Shortest(int? current, int value) => current is { } known ? Math.Min(known, value) : value;

    /// <summary>delta-seconds (RFC 9111 §1.2.2): digits only; values beyond 2^31 are clamped.</summary>
    internal static int? Seconds(bool hasArgument, ReadOnlySpan<char> argument)
    {
        if (!hasArgument || argument.IsEmpty)
        {
            return null;
        }

        long value = 0;
        foreach (var c in argument)
        {
            if (!char.IsAsciiDigit(c))
            {
                return null;
            }

            value = Math.Min(value * 10 + (c - '0'), int.MaxValue);
        }

        return (int)value;
    }

    /// <summary>True when any header line of <paramref name="pragma"/> says no-cache.</summary>
    public static bool PragmaNoCache(StringValues pragma)
    {
        foreach (var value in pragma)
        {
            if (value is not null && value.Contains("no-cache", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
