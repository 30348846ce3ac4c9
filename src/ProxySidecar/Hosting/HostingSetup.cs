using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using ProxySidecar.Admin;
using ProxySidecar.Configuration;
using ProxySidecar.Limits;
using ProxySidecar.Tls;

namespace ProxySidecar.Hosting;

/// <summary>Registration of hosting: the listeners and their limits, the lifecycle and drain, start-up loads, memory.</summary>
internal static class HostingSetup
{
    public static void AddSidecarHosting(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<HostingOptions>().BindConfiguration(HostingOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HostingOptions>, HostingOptionsValidator>();

        // Nothing here protects data at rest; keep the framework's key ring in memory so nothing is
        // written to disk (the container's root filesystem is read-only).
        services.AddSingleton<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider, Microsoft.AspNetCore.DataProtection.EphemeralDataProtectionProvider>();

        services.AddSingleton<SidecarLifecycle>();
        services.AddLifecycleStatus();
        services.AddHostedService<LifecycleService>();
        services.AddSingleton<RequestBufferBudget>();
        services.AddSingleton<IStatusContributor, RequestBufferingStatus>();
        services.AddOptions<HostOptions>().Configure<IOptions<HostingOptions>>((host, hosting) =>
        {
            // Read while the host is built; an invalid value is reported with all others at start-up.
            if (hosting.ValueOrNull() is { } value)
            {
                host.ShutdownTimeout = value.ShutdownDelay + value.DrainTimeout;
            }
        });
        services.AddSingleton<Http2ConnectionGuard>();

        // Five dependencies at most: the two connection middlewares of the public listener come from the provider.
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<HostingOptions>, IOptions<TlsOptions>, CertificateStore, IEnumerable<ITlsHandshakeCustomizer>, IServiceProvider>(
            (kestrel, hosting, tls, certificates, customizers, provider) =>
            {
                // Kestrel's options are read while the application is built, before the start-up checks can name every
                // bad key; with invalid settings the listeners are left out and start-up stops there.
                if (hosting.ValueOrNull() is { } hostingValue && tls.ValueOrNull() is { } tlsValue)
                {
                    Listeners.Configure(
                        kestrel,
                        hostingValue,
                        tlsValue,
                        certificates,
                        customizers,
                        http2Guard: provider.GetRequiredService<Http2ConnectionGuard>(),
                        beforeTls: provider.GetRequiredService<ClientConnectionLimiter>().Wrap);
                }
            });

        // What features register as StartupLoad (certificates, the client CA) is loaded before the listeners start.
        services.AddSingleton<LoadBeforeListening>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<LoadBeforeListening>());

        services.AddSingleton<IStatusContributor, MemoryStatus>();
        services.AddHostedService<IdleMemoryTrim>();
    }
}
