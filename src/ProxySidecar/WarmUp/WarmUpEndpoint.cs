using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Admin;

namespace ProxySidecar.WarmUp;

/// <summary>
/// <c>POST /cache/warm</c> on the admin listener: fetches URLs through the cache (a JSON body
/// <c>{"urls": […], "sitemap": "…", "concurrency": 4, "headers": {"Accept-Encoding": "gzip"}}</c>, or <c>url=</c>
/// (repeatable), <c>sitemap=</c> and <c>concurrency=</c> parameters) and answers with the summary when done. One
/// warm-up at a time (409 while one runs), bounded by Sidecar:WarmUp:Timeout and MaxUrls. Needs the purge token
/// when one is configured.
/// </summary>
internal sealed class WarmUpEndpoint(CacheWarmer warmer, IOptions<WarmUpOptions> options, PurgeTokenSource tokens, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<WarmUpEndpoint> logger) : IAdminEndpoint
{
    public string Method => HttpMethods.Post;

    public string Path => "/cache/warm";

    public async Task HandleAsync(HttpContext context)
    {
        context.Response.Headers.CacheControl = "no-store";
        if (!await AdminToken.AuthorizeAsync(context, tokens, logger, "Cache warm-up").ConfigureAwait(false))
        {
            return;
        }

        WarmUpBody? body = null;
        if (context.Request.HasJsonContentType())
        {
            try
            {
                body = await JsonSerializer.DeserializeAsync(context.Request.Body, ConsoleJsonContext.Default.WarmUpBody, context.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException error)
            {
                await AdminToken.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "The body is not valid JSON for a warm-up: " + error.Message).ConfigureAwait(false);
                return;
            }
        }

        var plan = Parse(context.Request.Query, body, options.Value, out var problem);
        if (plan is null)
        {
            await AdminToken.WriteErrorAsync(context, StatusCodes.Status400BadRequest, problem!).ConfigureAwait(false);
            return;
        }

        using var timeout = new CancellationTokenSource(options.Value.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timeout.Token, lifetime.ApplicationStopping);
        var summary = await warmer.RunAsync(plan, wait: false, linked.Token).ConfigureAwait(false);
        if (summary is null)
        {
            var running = warmer.Current;
            await AdminToken.WriteErrorAsync(context, StatusCodes.Status409Conflict,
                $"A warm-up ({running?.Trigger ?? "another"}) is already running; try again when it has finished (see warmUp in /status).").ConfigureAwait(false);
            return;
        }

        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, summary, ConsoleJsonContext.Default.WarmUpSummary, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The warm-up asked for, or null and what to send instead.</summary>
    internal static WarmUpPlan? Parse(IQueryCollection query, WarmUpBody? body, WarmUpOptions options, out string? problem)
    {
        problem = null;
        var texts = (query.TryGetValue("url", out var fromQuery) ? fromQuery.ToArray() : []).Concat(body?.Urls ?? []).ToList();
        var urls = new List<Uri>();
        foreach (var text in texts)
        {
            if (WarmUpUrls.Parse(text) is not { } url)
            {
                problem = $"\"{text}\" is not an absolute https URL. Give each URL as clients request it, e.g. https://www.example.com/products/42.";
                return null;
            }

            urls.Add(url);
        }

        var sitemapText = query.TryGetValue("sitemap", out var s) ? s.ToString() : body?.Sitemap;
        Uri? sitemap = null;
        if (!string.IsNullOrEmpty(sitemapText) && (sitemap = WarmUpUrls.Parse(sitemapText)) is null)
        {
            problem = $"sitemap \"{sitemapText}\" is not an absolute https URL, e.g. https://www.example.com/sitemap.xml.";
            return null;
        }

        if (urls.Count == 0 && sitemap is null)
        {
            problem = "Name what to warm: a JSON body {\"urls\": [\"https://www.example.com/\", …]} or {\"sitemap\": \"https://www.example.com/sitemap.xml\"}, or url= and sitemap= parameters.";
            return null;
        }

        if (urls.Count > options.MaxUrls)
        {
            problem = $"{urls.Count} URLs are more than Sidecar:WarmUp:MaxUrls ({options.MaxUrls}).";
            return null;
        }

        var concurrency = options.Concurrency;
        if (query.TryGetValue("concurrency", out var c))
        {
            if (!int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out concurrency))
            {
                concurrency = 0;
            }
        }
        else if (body?.Concurrency is { } fromBody)
        {
            concurrency = fromBody;
        }

        if (concurrency is < 1 or > WarmUpOptionsValidator.MaxConcurrency)
        {
            problem = $"concurrency must be 1 to {WarmUpOptionsValidator.MaxConcurrency} (default Sidecar:WarmUp:Concurrency, {options.Concurrency}).";
            return null;
        }

        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (name, value) in body?.Headers ?? [])
        {
            if (name.Equals(HeaderNames.Cookie, StringComparison.OrdinalIgnoreCase) || name.Equals(HeaderNames.Authorization, StringComparison.OrdinalIgnoreCase))
            {
                problem = $"{name} is refused: a warm-up fetches what any client without credentials gets (a response to a request with credentials is not shared anyway).";
                return null;
            }

            if (name.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase) || (value ?? string.Empty).Any(ch => ch is '\r' or '\n' or '\0'))
            {
                problem = $"\"{name}\" cannot be set here (the Host comes from each URL; values have no line breaks).";
                return null;
            }

            headers.Add(new(name, value ?? string.Empty));
        }

        return new WarmUpPlan(urls, sitemap, concurrency, options.MaxUrls, headers, "admin");
    }
}

/// <summary>The JSON body of a warm-up request.</summary>
internal sealed record WarmUpBody(string[]? Urls, string? Sitemap, int? Concurrency, Dictionary<string, string?>? Headers);
