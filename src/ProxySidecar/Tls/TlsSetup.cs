using ProxySidecar.Admin;
using ProxySidecar.Hosting;
using Yarp.ReverseProxy.Transforms.Builder;

namespace ProxySidecar.Tls;

/// <summary>Registration of the TLS feature: reload poller, client certificates, HSTS and the HTTP redirect.</summary>
internal static class TlsSetup
{
    public static void AddSidecarTls(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddSingleton<ClientCertificateAuthority>();
        services.AddSingleton<IHostedService>(sp => new LoadBeforeListening(sp.GetRequiredService<ClientCertificateAuthority>().Initialize));
        services.AddSingleton<TlsMetrics>();
        services.AddHostedService<CertificateReloadService>();
        services.AddSingleton<ITlsHandshakeCustomizer, ClientCertificateCustomizer>();

        // Runs after the shared forwarding transforms (registered earlier), which also drop a client-sent copy.
        services.AddSingleton<ITransformProvider, ClientCertificateForwarding>();
        services.AddSingleton<IStatusContributor, ClientCertificateStatus>();
        services.AddSingleton<IStatusContributor, TlsPolicyStatus>();
        services.AddSingleton<IStartupFilter, HttpsPolicyStartupFilter>();
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
        return new
        {
            mode = authority.Mode.ToString(),
            caPath = bundle?.Source,
            caSubjects = bundle?.Subjects,
            reloads = new { succeeded = authority.ReloadsSucceeded, failed = authority.ReloadsFailed },
            lastReload = reload is null ? null : new { at = reload.At, result = reload.Outcome, error = reload.Error },
            lastError = error is null ? null : new { at = error.At, error = error.Error },
        };
    }
}

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
