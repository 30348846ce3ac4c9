using Microsoft.Extensions.Options;
using ProxySidecar.Admin;
using Yarp.ReverseProxy.Forwarder;

namespace ProxySidecar.Proxy;

/// <summary>Registration of forwarding: the app's address, its health, YARP's routes and transforms, the client to the app.</summary>
internal static class ForwardingSetup
{
    public const string ReverseProxySection = "ReverseProxy";

    public static void AddSidecarForwarding(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<UpstreamOptions>().BindConfiguration(UpstreamOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<UpstreamOptions>, UpstreamOptionsValidator>();
        services.AddSingleton<UpstreamHealth>();
        services.AddHostedService<UpstreamProbeService>();
        services.AddSingleton<UpstreamStatus>();
        services.AddSingleton<IStatusContributor>(sp => sp.GetRequiredService<UpstreamStatus>());
        services.AddSingleton<IReadinessCheck>(sp => sp.GetRequiredService<UpstreamStatus>());
        var proxy = services.AddReverseProxy().AddTransforms(ForwardingTransforms.Apply);
        if (builder.Configuration.GetSection(ReverseProxySection).GetChildren().Any())
        {
            proxy.LoadFromConfig(builder.Configuration.GetSection(ReverseProxySection));
            services.AddHostedService<ReverseProxySectionNotice>();
        }
        else
        {
            services.AddSingleton<SidecarProxyConfigProvider>();
            services.AddSingleton<Yarp.ReverseProxy.Configuration.IProxyConfigProvider>(sp => sp.GetRequiredService<SidecarProxyConfigProvider>());
        }

        services.AddSingleton<IForwarderHttpClientFactory, UpstreamHttpClientFactory>();
    }

    /// <summary>A request head no app should see: an invalid Host is answered 400; underscore header names are dropped.</summary>
    public static void UseSidecarRequestHeadGuard(this WebApplication app) => app.UseMiddleware<RequestHeadGuardMiddleware>();
}

/// <summary>Says once at start-up that the full ReverseProxy section is in use.</summary>
internal sealed class ReverseProxySectionNotice(ILogger<ReverseProxySectionNotice> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        ProxyLog.UsingReverseProxySection(logger);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
