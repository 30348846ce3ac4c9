namespace ProxySidecar.Caching;

/// <summary>
/// HTTP-date (RFC 9110 §5.6.7), parsed strictly: IMF-fixdate (<c>Sun, 06 Nov 1994 08:49:37 GMT</c>) and the two
/// obsolete forms a recipient must accept, rfc850-date (<c>Sunday, 06-Nov-94 08:49:37 GMT</c>) and asctime-date
/// (<c>Sun Nov  6 08:49:37 1994</c>). Anything else — extra or missing spaces, other separators, a one-digit
/// hour, another zone, several values — is not a date. RFC 9111 §5.3: an Expires that is not a date means
/// "already expired"; a lenient parser would guess one instead.
/// </summary>
internal static class HttpDate
{
    private static readonly string[] Days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    private static readonly string[] LongDays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    public static bool TryParse(ReadOnlySpan<char> value, out long unixMs)
    {
        unixMs = 0;
        return TryImfFixdate(value, ref unixMs) || TryRfc850(value, ref unixMs) || TryAsctime(value, ref unixMs);
    }

    // "Sun, 06 Nov 1994 08:49:37 GMT"
    private static bool TryImfFixdate(ReadOnlySpan<char> v, ref long unixMs) =>
        v.Length == 29 && IsOneOf(v[..3], Days) && v[3] == ',' && v[4] == ' '
        && Digits(v.Slice(5, 2), out var day) && v[7] == ' ' && Month(v.Slice(8, 3), out var month) && v[11] == ' '
        && Digits(v.Slice(12, 4), out var year) && v[16] == ' ' && Time(v.Slice(17, 8), out var time) && v[25..].SequenceEqual(" GMT")
        && Compose(year, month, day, time, ref unixMs);

    // "Sunday, 06-Nov-94 08:49:37 GMT"
    private static bool TryRfc850(ReadOnlySpan<char> v, ref long unixMs)
    {
        var comma = v.IndexOf(',');
        if (comma < 6 || !IsOneOf(v[..comma], LongDays))
        {
            return false;
        }

        var rest = v[(comma + 1)..];
        if (rest.Length != 23 || rest[0] != ' ' || !Digits(rest.Slice(1, 2), out var day) || rest[3] != '-' || !Month(rest.Slice(4, 3), out var month)
            || rest[7] != '-' || !Digits(rest.Slice(8, 2), out var twoDigitYear) || rest[10] != ' ' || !Time(rest.Slice(11, 8), out var time) || !rest[19..].SequenceEqual(" GMT"))
        {
            return false;
        }

        // RFC 9110: a two-digit year more than 50 years in the future is the most recent past year with those digits.
        var thisYear = DateTime.UtcNow.Year;
        var year = (thisYear / 100 * 100) + twoDigitYear;
        if (year > thisYear + 50)
        {
            year -= 100;
        }

        return Compose(year, month, day, time, ref unixMs);
    }

    // "Sun Nov  6 08:49:37 1994"
    private static bool TryAsctime(ReadOnlySpan<char> v, ref long unixMs)
    {
        if (v.Length != 24 || !IsOneOf(v[..3], Days) || v[3] != ' ' || !Month(v.Slice(4, 3), out var month) || v[7] != ' ')
        {
            return false;
        }

        int day;
        if (v[8] == ' ')
        {
            if (!char.IsAsciiDigit(v[9]))
            {
                return false;
            }

            day = v[9] - '0';
        }
        else if (!Digits(v.Slice(8, 2), out day))
        {
            return false;
        }

        return v[10] == ' ' && Time(v.Slice(11, 8), out var time) && v[19] == ' ' && Digits(v.Slice(20, 4), out var year)
            && Compose(year, month, day, time, ref unixMs);
    }

    private static bool Compose(int year, int month, int day, int seconds, ref long unixMs)
    {
        if (year < 1 || day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            return false;
        }

        unixMs = new DateTimeOffset(year, month, day, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() + (seconds * 1000L);
        return true;
    }

    /// <summary>"HH:MM:SS", each two digits; a leap second (60) is accepted.</summary>
    private static bool Time(ReadOnlySpan<char> v, out int seconds)
    {
        seconds = 0;
        if (v.Length != 8 || v[2] != ':' || v[5] != ':' || !Digits(v[..2], out var h) || !Digits(v.Slice(3, 2), out var m) || !Digits(v.Slice(6, 2), out var s)
            || h > 23 || m > 59 || s > 60)
        {
            return false;
        }

        seconds = (h * 3600) + (m * 60) + s;
        return true;
    }

    private static bool Digits(ReadOnlySpan<char> v, out int value)
    {
        value = 0;
        foreach (var c in v)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return !v.IsEmpty;
    }

    private static bool Month(ReadOnlySpan<char> v, out int month)
    {
        for (var i = 0; i < Months.Length; i++)
        {
            if (v.SequenceEqual(Months[i]))
            {
                month = i + 1;
                return true;
            }
        }

        month = 0;
        return false;
    }

    private static bool IsOneOf(ReadOnlySpan<char> v, string[] names)
    {
        foreach (var name in names)
        {
            if (v.SequenceEqual(name))
            {
                return true;
            }
        }

        return false;
    }
}
