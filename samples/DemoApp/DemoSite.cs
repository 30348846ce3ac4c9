using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace DemoApp;

/// <summary>
/// An app that knows nothing about the sidecar and says what may be cached the usual way, with
/// Cache-Control, ETag and Vary. Each page shows one thing the cache does with such headers.
/// </summary>
public static class DemoSite
{
    /// <summary>Where the sidecar looks for its app by default (Sidecar:Upstream:Address).</summary>
    public const string DefaultUrl = "http://127.0.0.1:8080";

    /// <summary>The request header that makes /flaky fail, standing in for an app that is down.</summary>
    public const string FailHeader = "X-Demo-Fail";

    private const string Pages = """
        ProxySidecar demo app. Ask for these pages through the sidecar (https://localhost:8443/...):

          /fresh     Cache-Control: public, max-age=60            a miss, then hits for a minute
          /etag      Cache-Control: no-cache and an ETag          stored, but revalidated (304) before every use
          /vary      Vary: Accept-Language, max-age=60            one stored copy per language
          /slow      takes a second; max-age=0, stale-while-revalidate=60 and an ETag:
                     after the first request, the stored page is served at once and refreshed behind the scenes
          /flaky     max-age=0, stale-if-error=300 and an ETag; answers 503 when the request carries
                     "X-Demo-Fail: 1": the stored page is served instead of the error
          /account   personalised by the "session" cookie, no caching headers but an ETag:
                     every user gets their own page

        """;

    /// <summary>
    /// Builds the app. Settings (command line, environment): <c>--urls</c> (default <see cref="DefaultUrl"/>)
    /// and <c>Demo:SlowDelay</c> (how long /slow takes, default 00:00:01).
    /// </summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls(DefaultUrl);
        }

        var slowDelay = TimeSpan.TryParse(builder.Configuration["Demo:SlowDelay"], CultureInfo.InvariantCulture, out var delay) ? delay : TimeSpan.FromSeconds(1);
        var app = builder.Build();
        app.MapGet("/", () => Results.Text(Pages));
        app.MapGet("/fresh", Fresh);
        app.MapGet("/etag", Etag);
        app.MapGet("/vary", Vary);
        app.MapGet("/slow", (Func<HttpContext, Task<IResult>>)(context => SlowAsync(context, slowDelay)));
        app.MapGet("/flaky", Flaky);
        app.MapGet("/account", Account);
        return app;
    }

    /// <summary>Fresh for a minute: the second request is a hit. Tagged "fresh" for purges by tag.</summary>
    private static IResult Fresh(HttpContext context)
    {
        context.Response.Headers.CacheControl = "public, max-age=60";
        context.Response.Headers["Surrogate-Key"] = "fresh";
        return Results.Text($"fresh: rendered at {Now()}\n");
    }

    /// <summary>May be stored, but must be checked with the app before each use: the app answers 304 while the ETag holds.</summary>
    private static IResult Etag(HttpContext context) =>
        Versioned(context, "no-cache", "etag: this page changes only when its ETag does\n");

    /// <summary>One page per language: the cache keeps one copy per Accept-Language.</summary>
    private static IResult Vary(HttpContext context)
    {
        var language = context.Request.Headers.AcceptLanguage.ToString();
        var (code, text) = language.StartsWith("de", StringComparison.OrdinalIgnoreCase) ? ("de", "Hallo")
            : language.StartsWith("fr", StringComparison.OrdinalIgnoreCase) ? ("fr", "Bonjour")
            : ("en", "Hello");
        context.Response.Headers.CacheControl = "public, max-age=60";
        context.Response.Headers.Vary = "Accept-Language";
        context.Response.Headers.ContentLanguage = code;
        return Results.Text($"vary: {text} (rendered at {Now()})\n");
    }

    /// <summary>Slow to render and stale at once, but usable stale for a minute while the cache refreshes it.</summary>
    private static async Task<IResult> SlowAsync(HttpContext context, TimeSpan delay)
    {
        await Task.Delay(delay, context.RequestAborted);
        return Versioned(context, "max-age=0, stale-while-revalidate=60", $"slow: rendered at {Now()}, which took {delay.TotalSeconds:0.###} s\n");
    }

    /// <summary>Fails on request (the X-Demo-Fail header); until then usable stale for five minutes if the app fails.</summary>
    private static IResult Flaky(HttpContext context)
    {
        if (context.Request.Headers[FailHeader] == "1")
        {
            return Results.Text("flaky: the app is failing\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return Versioned(context, "max-age=0, stale-if-error=300", "flaky: the app is working\n");
    }

    /// <summary>
    /// The page of whoever the session cookie names. No Cache-Control at all, as in many apps, only an ETag:
    /// whatever the cache does with it, a user must never get another user's page.
    /// </summary>
    private static IResult Account(HttpContext context)
    {
        var user = context.Request.Cookies["session"] is { Length: > 0 and <= 32 } session && session.All(char.IsAsciiLetterOrDigit) ? session : "guest";
        return Versioned(context, cacheControl: null, $"account: Hello, {user}. This page is yours alone.\n");
    }

    /// <summary>Answers with an ETag of the body, and 304 when the request's If-None-Match holds it.</summary>
    private static IResult Versioned(HttpContext context, string? cacheControl, string body)
    {
        var etag = "\"" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)).AsSpan(0, 8)) + "\"";
        var headers = context.Response.Headers;
        headers.ETag = etag;
        if (cacheControl is not null)
        {
            headers.CacheControl = cacheControl;
        }

        if (Matches(context.Request.Headers.IfNoneMatch, etag))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Text(body);
    }

    private static bool Matches(StringValues ifNoneMatch, string etag) =>
        EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags)
        && tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(new EntityTagHeaderValue(etag), useStrongComparison: false));

    private static string Now() => DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
}
