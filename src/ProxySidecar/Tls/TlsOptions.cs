using Microsoft.Extensions.Options;

namespace ProxySidecar.Tls;

/// <summary>The server certificate, as mounted from a <c>kubernetes.io/tls</c> secret.</summary>
public sealed class TlsOptions
{
    public const string Section = "Sidecar:Tls";

    /// <summary>PEM certificate chain: the leaf first, then intermediates; all of it is served.</summary>
    public string CertificatePath { get; set; } = "/etc/proxysidecar/tls/tls.crt";

    /// <summary>PEM private key (PKCS#8, PKCS#1 or SEC1; RSA or ECDSA) matching the leaf certificate.</summary>
    public string KeyPath { get; set; } = "/etc/proxysidecar/tls/tls.key";

    /// <summary>How often the files are compared for a rotated certificate.</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A client that has not finished the TLS handshake by then is disconnected.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Client certificates (mutual TLS); off by default.</summary>
    public ClientCertificateOptions ClientCertificate { get; set; } = new();

    /// <summary>The Strict-Transport-Security response header; off by default.</summary>
    public HstsOptions Hsts { get; set; } = new();
}

/// <summary>Whether the public listener asks clients for a certificate.</summary>
public enum ClientCertificateMode
{
    /// <summary>No certificate is requested.</summary>
    None,

    /// <summary>A certificate is requested; a client without one is served, one with a certificate that does not verify is refused.</summary>
    Allow,

    /// <summary>A certificate issued by the configured CA is required to complete the handshake.</summary>
    Require,
}

/// <summary>Client certificates (mutual TLS), checked against a CA bundle of their own.</summary>
public sealed class ClientCertificateOptions
{
    public ClientCertificateMode Mode { get; set; } = ClientCertificateMode.None;

    /// <summary>PEM bundle of the CAs that issue client certificates; the only roots trusted for clients. Reloaded like the server certificate.</summary>
    public string? CaPath { get; set; }
}

/// <summary>HTTP Strict Transport Security (RFC 6797) on HTTPS responses.</summary>
public sealed class HstsOptions
{
    /// <summary>The header's max-age; null (the default) sends no header.</summary>
    public TimeSpan? MaxAge { get; set; }

    public bool IncludeSubDomains { get; set; }

    public bool Preload { get; set; }
}

internal sealed class TlsOptionsValidator : IValidateOptions<TlsOptions>
{
    public ValidateOptionsResult Validate(string? name, TlsOptions options)
    {
        var errors = new List<string>();
        const string p = TlsOptions.Section + ":";
        if (string.IsNullOrWhiteSpace(options.CertificatePath))
        {
            errors.Add($"{p}CertificatePath is empty. Set it to the PEM certificate file, e.g. /etc/proxysidecar/tls/tls.crt.");
        }

        if (string.IsNullOrWhiteSpace(options.KeyPath))
        {
            errors.Add($"{p}KeyPath is empty. Set it to the PEM private key file, e.g. /etc/proxysidecar/tls/tls.key.");
        }

        if (options.ReloadInterval < TimeSpan.FromMilliseconds(100) || options.ReloadInterval > TimeSpan.FromHours(1))
        {
            errors.Add($"{p}ReloadInterval: {options.ReloadInterval} is out of range. Use a time span from 00:00:00.1 to 01:00:00 (default 00:00:02).");
        }

        if (options.HandshakeTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{p}HandshakeTimeout: {options.HandshakeTimeout} must be positive (default 00:00:10).");
        }

        var client = options.ClientCertificate ?? new ClientCertificateOptions();
        if (!Enum.IsDefined(client.Mode))
        {
            errors.Add($"{p}ClientCertificate:Mode: {client.Mode} is not a mode. Use None (default), Allow or Require.");
        }

        if (client.Mode != ClientCertificateMode.None && string.IsNullOrWhiteSpace(client.CaPath))
        {
            errors.Add($"{p}ClientCertificate:CaPath is empty but Mode is {client.Mode}. Set it to the PEM bundle of the CA that issues client certificates, e.g. /etc/proxysidecar/client-ca/ca.crt, or set Mode to None.");
        }

        var hsts = options.Hsts ?? new HstsOptions();
        if (hsts.MaxAge is { } maxAge && maxAge < TimeSpan.Zero)
        {
            errors.Add($"{p}Hsts:MaxAge: {maxAge} is negative. Use a time span such as 365.00:00:00, 00:00:00 to tell browsers to forget the policy, or remove it to send no header.");
        }

        if (hsts.MaxAge is null && (hsts.IncludeSubDomains || hsts.Preload))
        {
            errors.Add($"{p}Hsts: IncludeSubDomains or Preload is set but MaxAge is not, so no header would be sent. Set {p}Hsts:MaxAge, e.g. 365.00:00:00.");
        }

        if (hsts.Preload && (!hsts.IncludeSubDomains || hsts.MaxAge < TimeSpan.FromDays(365)))
        {
            errors.Add($"{p}Hsts:Preload needs IncludeSubDomains true and a MaxAge of at least 365.00:00:00 (the browsers' preload list rejects anything less).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
