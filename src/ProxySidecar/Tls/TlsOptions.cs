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

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
