using System.Text.Json;

namespace ProxySidecar.Admin;

/// <summary>
/// The bearer token of the admin endpoints that reveal cache keys or make the sidecar send requests (explain,
/// warm-up): the purge token. When one is configured they need it; without one they are open, like /status, to
/// whoever reaches the admin port (which only the pod network does).
/// </summary>
internal static partial class AdminToken
{
    /// <summary>True when the request may go on; otherwise a 401 has been written and logged.</summary>
    public static async Task<bool> AuthorizeAsync(HttpContext context, PurgeTokenSource tokens, ILogger logger, string endpoint)
    {
        if (!tokens.IsConfigured || tokens.Matches(BearerToken(context.Request)))
        {
            return true;
        }

        var client = context.Request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? agent : "(no user agent)";
        Log.Refused(logger, endpoint, client, context.Connection.RemoteIpAddress?.ToString() ?? "(unknown)");
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"proxysidecar-admin\"";
        await WriteErrorAsync(context, StatusCodes.Status401Unauthorized, "Send the purge token (Sidecar:Admin) as 'Authorization: Bearer <token>'.").ConfigureAwait(false);
        return false;
    }

    public static Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new AdminError(message), ConsoleJsonContext.Default.AdminError, context.RequestAborted);
    }

    private static string? BearerToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? header[scheme.Length..].Trim() : null;
    }

    private static partial class Log
    {
        [LoggerMessage(547, LogLevel.Warning, "{Endpoint} refused: missing or wrong bearer token; asked by {Client} from {Address}.")]
        public static partial void Refused(ILogger logger, string endpoint, string client, string address);
    }
}

internal sealed record AdminError(string Error);
