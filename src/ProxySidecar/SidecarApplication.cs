using ProxySidecar.Admin;
using ProxySidecar.Caching;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Compression;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;
using ProxySidecar.Limits;
using ProxySidecar.Logging;
using ProxySidecar.Proxy;
using ProxySidecar.Telemetry;
using ProxySidecar.Tls;

namespace ProxySidecar;

/// <summary>
/// The composition root: one registration per feature folder, and the middleware order, in one place.
/// </summary>
internal static class SidecarApplication
{
    /// <summary>
    /// The builder's options: the content root (where appsettings.json is read) is the executable's directory, whatever
    /// the working directory, unless <c>--contentRoot</c> or ASPNETCORE_CONTENTROOT / DOTNET_CONTENTROOT names another.
    /// </summary>
    public static WebApplicationOptions BuilderOptions(string[] args) => new()
    {
        Args = args,
        ContentRootPath = ContentRootGiven(args) ? null : AppContext.BaseDirectory,
    };

    internal static bool ContentRootGiven(string[] args) =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_CONTENTROOT"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOTNET_CONTENTROOT"))
        || args.Any(arg => arg.TrimStart('-', '/').StartsWith("contentRoot", StringComparison.OrdinalIgnoreCase));

    /// <summary>Every feature registers itself; none depends on another having registered first.</summary>
    public static WebApplicationBuilder AddProxySidecar(this WebApplicationBuilder builder)
    {
        builder.AddSidecarConfiguration();
        builder.AddSidecarLogging();
        builder.AddSidecarHosting();
        builder.AddSidecarTls();
        builder.AddSidecarForwarding();
        builder.AddSidecarAdmin();
        builder.AddSidecarCache();
        builder.AddSidecarCacheStore();
        builder.AddSidecarLimits();
        builder.AddSidecarCompression();
        builder.AddSidecarTelemetry();
        return builder;
    }

    /// <summary>The middleware order, in one place.</summary>
    public static WebApplication UseProxySidecar(this WebApplication app)
    {
        // 0. Every bad setting, then every unreadable certificate and unusable port, is named at once, before a
        //    listener or the pipeline reads one.
        StartupChecks.Run(app.Services);

        // 1. The HTTPS policy: the plain-HTTP redirect listener answers 308; HSTS on HTTPS responses (when configured).
        app.UseSidecarHttpsPolicy();

        // 2. The admin listener is answered here and never reaches the app.
        app.UseSidecarAdmin();

        // 2a. One access-log line per public request.
        app.UseSidecarAccessLog();

        // 2b. A request head no app should see: an invalid Host is answered 400; underscore header names are dropped.
        app.UseSidecarRequestHeadGuard();

        // 3. Per-client rate limits (Sidecar:Limits:Rules), in front of the cache so that hits count too: beyond a
        //    limit, 429. Every request from a client is marked here first; background refreshes of the cache are
        //    not (the cap in 5. tells them apart by that). The rate limiter is skipped while there are no rules.
        app.UseMiddleware<ClientRequestMarker>();
        app.UseWhen(LimitsSetup.HasRateLimitRules(app.Services), limited => limited.UseRateLimiter());

        // 3a. Compression wraps the cache: the cache serves its stored compressed representations itself,
        //     everything else that the app sent uncompressed is compressed as it streams.
        app.UseSidecarCompression();

        // 4. The HTTP cache sits in front of routing, so it can answer without touching the app.
        app.UseSidecarCache();

        // 5. YARP: the route table, then the forwarder's pipeline. A body over the limit is answered 413 (and with
        //    request buffering, the whole body is read first, so a slow upload holds no slot of what follows). Then
        //    the cap on the app (Sidecar:Limits:App): only what the cache sends on (misses, revalidations,
        //    background refreshes) takes a slot, so hits and stale answers are served while the app is saturated;
        //    beyond the cap and its queue, 503. Then the forwarder, whose failures become problem+json.
        app.UseRouting();
        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<RequestBodyMiddleware>();
            pipeline.UseMiddleware<AppConcurrencyMiddleware>();
            pipeline.UseMiddleware<ForwarderErrorMiddleware>();
        });
        return app;
    }
}
