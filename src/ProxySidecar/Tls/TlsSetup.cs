using Microsoft.Extensions.Options;
using ProxySidecar.Admin;
using ProxySidecar.Hosting;
using ProxySidecar.Proxy;

namespace ProxySidecar.Tls;

/// <summary>Registration of the TLS feature: the certificate and its reload poller, client certificates, HSTS and the HTTP redirect.</summary>
internal static class TlsSetup
{
    public static void AddSidecarTls(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<TlsOptions>().BindConfiguration(TlsOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TlsOptions>, TlsOptionsValidator>();

        // The certificate is loaded before the listeners start.
        services.AddSingleton<CertificateStore>();
        services.AddSingleton(sp => new StartupLoad(sp.GetRequiredService<CertificateStore>().Initialize));
        services.AddSingleton<CertificateStatus>();
        services.AddSingleton<IStatusContributor>(sp => sp.GetRequiredService<CertificateStatus>());
        services.AddSingleton<IReadinessCheck>(sp => sp.GetRequiredService<CertificateStatus>());
        services.AddSingleton<ClientCertificateAuthority>();
        services.AddSingleton(sp => new StartupLoad(sp.GetRequiredService<ClientCertificateAuthority>().Initialize));
        services.AddSingleton<TlsMetrics>();
        services.AddHostedService<CertificateReloadService>();
        services.AddSingleton<ITlsHandshakeCustomizer, ClientCertificateCustomizer>();

        // Applied by the shared forwarding transforms after their own (which drop a client-sent copy).
        services.AddSingleton<IForwardingTransform, ClientCertificateForwarding>();
        services.AddSingleton<IStatusContributor, ClientCertificateStatus>();
        services.AddSingleton<IStatusContributor, TlsPolicyStatus>();
    }

    /// <summary>
    /// First in the pipeline: the plain-HTTP redirect listener answers 308 to the HTTPS URL (nothing on it reaches the
    /// app or the admin endpoints), and HTTPS responses get Strict-Transport-Security when configured.
    /// </summary>
    public static void UseSidecarHttpsPolicy(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.Services.GetRequiredService<IOptions<HostingOptions>>().Value.HttpRedirectPort is not null)
        {
            app.UseMiddleware<HttpsRedirectMiddleware>();
        }

        if (HstsMiddleware.HeaderValue(app.Services.GetRequiredService<IOptions<TlsOptions>>().Value.Hsts) is not null)
        {
            app.UseMiddleware<HstsMiddleware>();
        }
    }
}

/// <summary>The <c>clientCertificates</c> section of /status.</summary>
internal sealed class ClientCertificateStatus(ClientCertificateAuthority authority) : IStatusContributor
{
    public string Name => "clientCertificates";

    public object GetStatus()
    {
        var bundle = authority.Current;
        var reload = authority.LastReload;
        var error = authority.LastError;
        return new ClientCertificateStatusBody(
            authority.Mode.ToString(),
            bundle?.Source,
            bundle?.Subjects,
            new ReloadCounts(authority.ReloadsSucceeded, authority.ReloadsFailed),
            reload is null ? null : new ReloadStatus(reload.At, reload.Outcome, reload.Error),
            error is null ? null : new ReloadErrorStatus(error.At, error.Error));
    }
}

internal sealed record ClientCertificateStatusBody(
    string Mode,
    string? CaPath,
    IReadOnlyList<string>? CaSubjects,
    ReloadCounts Reloads,
    ReloadStatus? LastReload,
    ReloadErrorStatus? LastError);

internal sealed record ReloadCounts(long Succeeded, long Failed);

internal sealed record ReloadStatus(DateTimeOffset At, string Result, string? Error);

internal sealed record ReloadErrorStatus(DateTimeOffset At, string? Error);

/// <summary>The <c>tlsPolicy</c> section of /status: where the cipher policy is enforced, and so whether sessions resume.</summary>
internal sealed class TlsPolicyStatus : IStatusContributor
{
    public string Name => "tlsPolicy";

    public object GetStatus() => new TlsPolicyStatusBody(
        OpenSslTlsPolicy.Applied ? "openssl-config" : "cipher-suites-policy",
        OpenSslTlsPolicy.Applied,
        OpenSslTlsPolicy.NotAppliedReason);
}

internal sealed record TlsPolicyStatusBody(string EnforcedBy, bool SessionResumption, string? Reason);
