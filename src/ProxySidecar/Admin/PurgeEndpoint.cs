using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Admin;

/// <summary>
/// POST /cache/purge on the admin listener: exactly one of <c>url=</c> (every variant of that URL),
/// <c>tag=</c> or <c>all=true</c>, and optionally <c>soft=true</c> (mark stale instead of removing),
/// from the query string or a form body. Needs <c>Authorization: Bearer &lt;token&gt;</c>; refused (403)
/// when no token is configured. With the Redis store the purge reaches every replica.
/// </summary>
internal sealed partial class PurgeEndpoint(
    PurgeTokenSource tokens,
    IServiceProvider services,
    RecentPurges recent,
    ILogger<PurgeEndpoint> logger) : IAdminEndpoint
{
    internal const string HowToEnable =
        "Cache purge is disabled because no purge token is configured. Set Sidecar:Admin:PurgeTokenFile to a file holding a random token " +
        "(a mounted Kubernetes secret; environment: Sidecar__Admin__PurgeTokenFile) or Sidecar:Admin:PurgeToken (environment: Sidecar__Admin__PurgeToken), " +
        "restart, and send it as 'Authorization: Bearer <token>'.";

    public string Method => HttpMethods.Post;

    public string Path => "/cache/purge";

    public async Task HandleAsync(HttpContext context)
    {
        context.Response.Headers.CacheControl = "no-store";
        var client = context.Request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? agent : "(no user agent)";
        var address = context.Connection.RemoteIpAddress?.ToString() ?? "(unknown)";

        if (!tokens.IsConfigured)
        {
            Log.Refused(logger, "no purge token configured", client, address);
            await WriteErrorAsync(context, StatusCodes.Status403Forbidden, HowToEnable).ConfigureAwait(false);
            return;
        }

        if (!tokens.Matches(BearerToken(context.Request)))
        {
            Log.Refused(logger, "missing or wrong bearer token", client, address);
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"proxysidecar-admin\"";
            await WriteErrorAsync(context, StatusCodes.Status401Unauthorized, "Send the purge token as 'Authorization: Bearer <token>'.").ConfigureAwait(false);
            return;
        }

        var parameters = await ReadParametersAsync(context).ConfigureAwait(false);
        var request = PurgeRequest.Parse(parameters, out var problem);
        if (request is null)
        {
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, problem!).ConfigureAwait(false);
            return;
        }

        var purger = services.GetService<IHttpCachePurger>();
        if (purger is null)
        {
            await WriteErrorAsync(context, StatusCodes.Status501NotImplemented, "The HTTP cache is not enabled, so there is nothing to purge.").ConfigureAwait(false);
            return;
        }

        PurgeResult result;
        try
        {
            result = request.Kind switch
            {
                PurgeKind.Url => await purger.PurgeUrlAsync(request.Url!, request.Soft, context.RequestAborted).ConfigureAwait(false),
                PurgeKind.Tag => await purger.PurgeTagAsync(request.Tag!, request.Soft, context.RequestAborted).ConfigureAwait(false),
                _ => await purger.PurgeAllAsync(request.Soft, context.RequestAborted).ConfigureAwait(false),
            };
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            Log.Failed(logger, ex, request.Describe(), request.Soft, client, address);
            recent.Add(request.Describe(), request.Soft, succeeded: false, ex.Message, client, address);
            var reason = ex is SharedStoreUnavailableException
                ? $"The shared cache store (Redis) is unavailable: {ex.Message} (see sharedCache in /status)."
                : $"The purge failed: {ex.Message}";
            await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable, reason + " Nothing is known to be purged; try again.").ConfigureAwait(false);
            return;
        }

        Log.Purged(logger, result.Kind, result.Target, result.Soft, result.Entries?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "all matching", client, address);
        recent.Add(request.Describe(), request.Soft, succeeded: true, null, client, address);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(context.Response.Body, new PurgeResponse(result), PurgeJsonContext.Default.PurgeResponse, context.RequestAborted).ConfigureAwait(false);
    }

    private static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : null;
    }

    private static async Task<Dictionary<string, StringValues>> ReadParametersAsync(HttpContext context)
    {
        var all = new Dictionary<string, StringValues>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in context.Request.Query)
        {
            all[key] = value;
        }

        if (context.Request.HasFormContentType)
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            foreach (var (key, value) in form)
            {
                all[key] = all.TryGetValue(key, out var existing) ? StringValues.Concat(existing, value) : value;
            }
        }

        return all;
    }

    private static Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new PurgeError(message), PurgeJsonContext.Default.PurgeError, context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(541, LogLevel.Information, "Cache purge of {Kind} {Target} (soft: {Soft}): {Entries} entries; asked by {Client} from {Address}.")]
        public static partial void Purged(ILogger logger, string kind, string target, bool soft, string entries, string client, string address);

        [LoggerMessage(542, LogLevel.Warning, "Cache purge refused ({Reason}); asked by {Client} from {Address}. Nothing was purged.")]
        public static partial void Refused(ILogger logger, string reason, string client, string address);

        [LoggerMessage(543, LogLevel.Error, "Cache purge of {Target} (soft: {Soft}) failed; asked by {Client} from {Address}.")]
        public static partial void Failed(ILogger logger, Exception error, string target, bool soft, string client, string address);
    }
}

internal enum PurgeKind
{
    Url,
    Tag,
    All,
}

/// <summary>A validated purge request: exactly one target.</summary>
internal sealed record PurgeRequest(PurgeKind Kind, Uri? Url, string? Tag, bool Soft)
{
    private static readonly string[] Targets = ["url", "tag", "all"];

    public string Describe() => Kind switch
    {
        PurgeKind.Url => "url " + Url,
        PurgeKind.Tag => "tag " + Tag,
        _ => "everything",
    };

    /// <summary>Null (and a message saying what to send instead) when the parameters do not name exactly one valid target.</summary>
    public static PurgeRequest? Parse(IReadOnlyDictionary<string, StringValues> parameters, out string? problem)
    {
        problem = null;
        var present = Targets.Where(parameters.ContainsKey).ToArray();
        if (present.Length == 0)
        {
            problem = "Name what to purge: url=<absolute URL> (every variant of it), tag=<tag>, or all=true; add soft=true to mark entries stale instead of removing them.";
            return null;
        }

        if (present.Length > 1 || parameters[present[0]].Count > 1)
        {
            problem = $"Name exactly one target per purge (got {string.Join(", ", present.SelectMany(p => parameters[p].Select(_ => p)))}): url=, tag= or all=true.";
            return null;
        }

        var soft = false;
        if (parameters.TryGetValue("soft", out var softValues))
        {
            if (softValues.Count != 1 || !bool.TryParse(softValues[0], out soft))
            {
                problem = "soft must be true or false.";
                return null;
            }
        }

        var value = parameters[present[0]][0] ?? string.Empty;
        switch (present[0])
        {
            case "url":
                if (!Uri.TryCreate(value, UriKind.Absolute, out var url)
                    || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)
                    || string.IsNullOrEmpty(url.Host))
                {
                    problem = $"url must be an absolute http(s) URL as clients request it, e.g. url=https://www.example.com/products/42?page=2 (got \"{value}\").";
                    return null;
                }

                return new PurgeRequest(PurgeKind.Url, url, null, soft);
            case "tag":
                if (string.IsNullOrWhiteSpace(value))
                {
                    problem = "tag must not be empty.";
                    return null;
                }

                return new PurgeRequest(PurgeKind.Tag, null, value, soft);
            default:
                if (!string.Equals(value, "true", StringComparison.OrdinalIgnoreCase))
                {
                    problem = "all accepts only true (all=true purges everything).";
                    return null;
                }

                return new PurgeRequest(PurgeKind.All, null, null, soft);
        }
    }
}

internal sealed record PurgeResponse(PurgeResult Purged);

internal sealed record PurgeError(string Error);

[JsonSerializable(typeof(PurgeResponse))]
[JsonSerializable(typeof(PurgeError))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class PurgeJsonContext : JsonSerializerContext;

/// <summary>Registration of the purge endpoint and its token.</summary>
internal static class PurgeSetup
{
    public static IServiceCollection AddPurgeEndpoint(this IServiceCollection services)
    {
        services.AddOptions<PurgeOptions>().BindConfiguration(PurgeOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PurgeOptions>, PurgeOptionsValidator>();
        services.AddSingleton<PurgeTokenSource>();
        services.AddSingleton<RecentPurges>();
        services.AddSingleton<IAdminEndpoint, PurgeEndpoint>();
        return services;
    }
}
