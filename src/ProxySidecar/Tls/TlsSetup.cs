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
        services.AddSingleton(sp => new StartupLoad(sp.GetRequiredService<ClientCertificateAuthority>().Initialize));
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
