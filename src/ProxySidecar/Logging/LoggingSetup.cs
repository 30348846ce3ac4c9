namespace ProxySidecar.Logging;

/// <summary>Registration of logging: the console's JSON format, framework defaults, and the access log.</summary>
internal static class LoggingSetup
{
    /// <summary>Framework categories that log per request or per connection; Warning unless Logging:LogLevel says otherwise.</summary>
    internal static readonly string[] QuietFrameworkCategories = ["Microsoft.AspNetCore", "Yarp", "System.Net.Http.HttpClient"];

    /// <summary>
    /// Off unless Logging:LogLevel turns it on: Kestrel's HTTP/2 category logs a Critical line for every stream it
    /// cannot queue on a connection flooded with resets (hundreds per connection); the HTTP/2 connection guard writes
    /// one line per such connection instead.
    /// </summary>
    internal const string KestrelHttp2Category = "Microsoft.AspNetCore.Server.Kestrel.Http2";

    /// <summary>
    /// Error unless Logging:LogLevel says otherwise: YARP logs a Warning for every failed forward, including each one a
    /// client causes (a slow or cut-off body); ForwarderErrorMiddleware logs every failure once, at Warning when the
    /// app is at fault and at Debug when the client is.
    /// </summary>
    internal const string YarpForwarderCategory = "Yarp.ReverseProxy.Forwarder.HttpForwarder";

    /// <summary>JSON console logs with trace ids, quiet framework categories, and the access log.</summary>
    public static void AddSidecarLogging(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Logging.ClearProviders();
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);

        // The framework's per-request categories (hosting diagnostics, routing, the forwarder: six lines per request at
        // Information) default to Warning in code, so that they stay quiet without appsettings.json. Inserted first,
        // so Logging:LogLevel for the same category (a later rule of the same specificity) still overrides them.
        builder.Services.Configure<LoggerFilterOptions>(filters =>
        {
            foreach (var category in QuietFrameworkCategories)
            {
                filters.Rules.Insert(0, new LoggerFilterRule(null, category, LogLevel.Warning, null));
            }

            filters.Rules.Insert(0, new LoggerFilterRule(null, KestrelHttp2Category, LogLevel.None, null));
            filters.Rules.Insert(0, new LoggerFilterRule(null, YarpForwarderCategory, LogLevel.Error, null));
        });
        builder.Logging.AddJsonConsole(o =>
        {
            o.IncludeScopes = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            o.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Indented = false };
        });

        var services = builder.Services;
        services.AddOptions<AccessLogOptions>().BindConfiguration(AccessLogOptions.Section);
        services.AddSingleton<IAccessLogSink, StdoutAccessLogSink>();
        services.AddSingleton<AccessLogWriter>();
        services.AddSingleton<Admin.IStatusContributor, AccessLogStatus>();
    }

    /// <summary>One access-log line per public request.</summary>
    public static void UseSidecarAccessLog(this WebApplication app) => app.UseMiddleware<AccessLogMiddleware>();
}
