using Microsoft.Extensions.Options;

namespace ProxySidecar.WarmUp;

/// <summary>
/// Cache warm-up: URLs (and a sitemap) fetched through the cache when the sidecar starts, before readiness turns
/// ready, and the bounds of every warm-up (also those asked for with <c>POST /cache/warm</c>). Read at start.
/// </summary>
public sealed class WarmUpOptions
{
    public const string Section = "Sidecar:WarmUp";

    /// <summary>Absolute https URLs, as clients request them (the host is the Host header the app sees).</summary>
    public IList<string> Urls { get; set; } = [];

    /// <summary>An absolute https URL of a sitemap on the app; its &lt;loc&gt; URLs are warmed too (one sitemap index level is followed).</summary>
    public string? Sitemap { get; set; }

    /// <summary>Requests at once.</summary>
    public int Concurrency { get; set; } = 4;

    /// <summary>At most this many URLs per warm-up (list and sitemap together); the rest are left out.</summary>
    public int MaxUrls { get; set; } = 1000;

    /// <summary>How long a warm-up may take; the start-up warm-up keeps readiness at 503 no longer than this.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(1);
}

internal sealed class WarmUpOptionsValidator : IValidateOptions<WarmUpOptions>
{
    internal const int MaxConcurrency = 64;
    internal const int MaxMaxUrls = 100_000;

    public ValidateOptionsResult Validate(string? name, WarmUpOptions options)
    {
        var errors = new List<string>();
        const string p = WarmUpOptions.Section + ":";
        for (var i = 0; i < options.Urls.Count; i++)
        {
            if (WarmUpUrls.Parse(options.Urls[i]) is null)
            {
                errors.Add($"{p}Urls:{i}: \"{options.Urls[i]}\" is not an absolute https URL. Write each URL as clients request it, e.g. https://www.example.com/products/42.");
            }
        }

        if (!string.IsNullOrEmpty(options.Sitemap) && WarmUpUrls.Parse(options.Sitemap) is null)
        {
            errors.Add($"{p}Sitemap: \"{options.Sitemap}\" is not an absolute https URL. Give the sitemap's URL as clients request it, e.g. https://www.example.com/sitemap.xml.");
        }

        if (options.Concurrency is < 1 or > MaxConcurrency)
        {
            errors.Add($"{p}Concurrency: {options.Concurrency} is out of range. Use 1 to {MaxConcurrency} requests at once (default 4).");
        }

        if (options.MaxUrls is < 1 or > MaxMaxUrls)
        {
            errors.Add($"{p}MaxUrls: {options.MaxUrls} is out of range. Use 1 to {MaxMaxUrls} (default 1000).");
        }
        else if (options.Urls.Count > options.MaxUrls)
        {
            errors.Add($"{p}Urls: {options.Urls.Count} URLs are more than MaxUrls ({options.MaxUrls}). Raise {p}MaxUrls or list fewer URLs.");
        }

        if (options.Timeout < TimeSpan.FromSeconds(1) || options.Timeout > TimeSpan.FromHours(1))
        {
            errors.Add($"{p}Timeout: {options.Timeout} is out of range. Use 00:00:01 to 01:00:00: it bounds how long the start-up warm-up keeps readiness at 503 (default 00:01:00).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>What warm-up accepts as a URL: absolute https, with a host, without user info or fragment.</summary>
internal static class WarmUpUrls
{
    public static Uri? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text.Trim(), UriKind.Absolute, out var url))
        {
            return null;
        }

        return url.Scheme == Uri.UriSchemeHttps && !string.IsNullOrEmpty(url.Host) && url.UserInfo.Length == 0 ? url : null;
    }
}
