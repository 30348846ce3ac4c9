using System.Text.Json;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Caching;

namespace ProxySidecar.Admin;

/// <summary>
/// <c>GET /cache/explain?url=…</c> on the admin listener (and <c>POST</c> with the same as a JSON body): which rule
/// applies to the URL, its key and Vary variant, what the store holds for it and where, and what the cache would do
/// with the request as given, in words. Request headers come as <c>header=Name: value</c> parameters (repeatable,
/// like curl's <c>-H</c>) or a JSON body <c>{"url": …, "headers": {"Name": "value"}, "method": "GET",
/// "clientCertificate": false}</c>. Needs the purge token when one is configured, since it reveals keys. It never
/// contacts the app and never changes the cache.
/// </summary>
internal sealed class ExplainEndpoint(string method, CacheExplainer explainer, PurgeTokenSource tokens, ILogger<ExplainEndpoint> logger) : IAdminEndpoint
{
    internal const int MaxHeaders = 100;

    public string Method { get; } = method;

    public string Path => "/cache/explain";

    public async Task HandleAsync(HttpContext context)
    {
        context.Response.Headers.CacheControl = "no-store";
        if (!await AdminToken.AuthorizeAsync(context, tokens, logger, "Cache explanation").ConfigureAwait(false))
        {
            return;
        }

        ExplainBody? body = null;
        if (context.Request.HasJsonContentType())
        {
            try
            {
                body = await JsonSerializer.DeserializeAsync(context.Request.Body, ConsoleJsonContext.Default.ExplainBody, context.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException error)
            {
                await AdminToken.WriteErrorAsync(context, StatusCodes.Status400BadRequest, "The body is not valid JSON for an explanation: " + error.Message).ConfigureAwait(false);
                return;
            }
        }

        var request = Parse(context.Request.Query, body, out var problem);
        if (request is null)
        {
            await AdminToken.WriteErrorAsync(context, StatusCodes.Status400BadRequest, problem!).ConfigureAwait(false);
            return;
        }

        var explanation = await explainer.ExplainAsync(request, context.RequestAborted).ConfigureAwait(false);
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, explanation, ConsoleJsonContext.Default.CacheExplanation, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The request to explain, or null and what to send instead.</summary>
    internal static ExplainRequest? Parse(IQueryCollection query, ExplainBody? body, out string? problem)
    {
        problem = null;
        var urls = query.TryGetValue("url", out var fromQuery) ? fromQuery : StringValues.Empty;
        if (body?.Url is { } fromBody)
        {
            urls = StringValues.Concat(urls, fromBody);
        }

        if (urls.Count != 1)
        {
            problem = urls.Count == 0
                ? "Name the URL to explain as clients request it: url=https://www.example.com/products/42?page=2 (add header=Name: value for each request header)."
                : "Name exactly one URL to explain.";
            return null;
        }

        var text = urls[0] ?? string.Empty;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp) || string.IsNullOrEmpty(url.Host))
        {
            problem = $"url must be an absolute http(s) URL as clients request it, e.g. url=https://www.example.com/products/42?page=2 (got \"{text}\").";
            return null;
        }

        var method = (query.TryGetValue("method", out var m) ? m.ToString() : body?.Method) is { Length: > 0 } given ? given.ToUpperInvariant() : HttpMethods.Get;
        if (!IsToken(method))
        {
            problem = $"method must be an HTTP method such as GET or HEAD (got \"{method}\").";
            return null;
        }

        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in query.TryGetValue("header", out var lines) ? lines : StringValues.Empty)
        {
            var colon = (line ?? string.Empty).IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                problem = $"header must be written as curl's -H, \"Name: value\" (got \"{line}\").";
                return null;
            }

            headers.Add(new(line![..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        foreach (var (name, value) in body?.Headers ?? [])
        {
            headers.Add(new(name.Trim(), value?.Trim() ?? string.Empty));
        }

        if (headers.Count > MaxHeaders)
        {
            problem = $"At most {MaxHeaders} headers can be given.";
            return null;
        }

        foreach (var (name, value) in headers)
        {
            if (!IsToken(name) || value.Any(c => c is '\r' or '\n' or '\0'))
            {
                problem = $"\"{name}: {value}\" is not a valid header (a token for the name, a value without line breaks).";
                return null;
            }
        }

        var certificate = false;
        if (query.TryGetValue("clientCertificate", out var flag) && !bool.TryParse(flag, out certificate))
        {
            problem = "clientCertificate must be true or false.";
            return null;
        }

        return new ExplainRequest(url, method, headers, certificate || body?.ClientCertificate == true);
    }

    private static bool IsToken(string text) =>
        text.Length > 0 && text.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));
}

/// <summary>The JSON body of an explanation request.</summary>
internal sealed record ExplainBody(string? Url, string? Method, Dictionary<string, string?>? Headers, bool? ClientCertificate);
