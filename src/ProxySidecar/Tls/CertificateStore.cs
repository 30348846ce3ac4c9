using Microsoft.Extensions.Options;

namespace ProxySidecar.Tls;

/// <summary>
/// The certificate every new TLS handshake gets. Readers never lock: a new pair is loaded and checked
/// off the handshake path and published with one write; a pair that fails keeps the last good one.
/// </summary>
internal sealed class CertificateStore(
    IOptions<TlsOptions> options,
    IHostEnvironment environment,
    TimeProvider time,
    ILogger<CertificateStore> logger)
{
    private ServerCertificate? _current;
    private ReloadResult? _lastReload;

    /// <summary>The certificate new handshakes get; null only before start-up finished.</summary>
    public ServerCertificate? Current => Volatile.Read(ref _current);

    public ReloadResult? LastReload => Volatile.Read(ref _lastReload);

    /// <summary>
    /// First load. Outside Development a missing or bad pair is a start-up error naming the path and the setting.
    /// </summary>
    public void Initialize()
    {
        var tls = options.Value;
        try
        {
            Publish(CertificateLoader.Load(tls.CertificatePath, tls.KeyPath, time.GetUtcNow()), "loaded");
            TlsLog.Loaded(logger, tls.CertificatePath, Current!.Subject, Current.Thumbprint, Current.NotAfter);
        }
        catch (CertificateLoadException error) when (environment.IsDevelopment() && !File.Exists(tls.CertificatePath))
        {
            TlsLog.UsingGeneratedCertificate(logger, tls.CertificatePath, error.Reason);
            Publish(DevelopmentCertificate.Create(time.GetUtcNow()), "generated");
        }
        catch (CertificateLoadException error)
        {
            var setting = error.Path == tls.KeyPath ? TlsOptions.Section + ":KeyPath" : TlsOptions.Section + ":CertificatePath";
            throw new SidecarStartupException(
                $"{setting}: cannot load the TLS certificate from {error.Path}: {error.Reason}. " +
                $"Mount the kubernetes.io/tls secret there, or set {setting} (environment variable {setting.Replace(":", "__", StringComparison.Ordinal)}) to the right file.",
                error);
        }
    }

    /// <summary>
    /// Loads the files again and publishes the pair if its content changed. A bad pair keeps the current one.
    /// Returns true when a new certificate was published.
    /// </summary>
    public bool TryReload()
    {
        var tls = options.Value;
        var now = time.GetUtcNow();
        string certificatePem;
        string keyPem;
        try
        {
            certificatePem = File.ReadAllText(tls.CertificatePath);
            keyPem = File.ReadAllText(tls.KeyPath);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return Fail(tls.CertificatePath, $"cannot read the files ({error.Message})", now, error);
        }

        var current = Current;
        var hash = CertificateLoader.Hash(certificatePem, keyPem);
        if (current is not null && hash.AsSpan().SequenceEqual(current.ContentHash))
        {
            return false;
        }

        // The same broken content is reported once, not on every poll.
        if (LastReload is { Succeeded: false } last && last.ContentHash is not null && hash.AsSpan().SequenceEqual(last.ContentHash))
        {
            return false;
        }

        try
        {
            var next = CertificateLoader.Load(certificatePem, keyPem, tls.CertificatePath, tls.KeyPath, now);
            Publish(next, "reloaded");
            TlsLog.Reloaded(logger, tls.CertificatePath, next.Subject, next.Thumbprint, next.NotAfter);
            return true;
        }
        catch (CertificateLoadException error)
        {
            Fail(error.Path, error.Reason, now, error, hash);
            return false;
        }
    }

    /// <summary>Publishes a certificate directly (tests, generated certificates).</summary>
    internal void Publish(ServerCertificate certificate, string outcome)
    {
        Volatile.Write(ref _current, certificate);
        Volatile.Write(ref _lastReload, new ReloadResult(time.GetUtcNow(), true, outcome, null, certificate.ContentHash));
        CertificateChanged?.Invoke(certificate);
    }

    /// <summary>Raised after a new certificate is published.</summary>
    public event Action<ServerCertificate>? CertificateChanged;

    /// <summary>Raised when a reload fails; the current certificate stays.</summary>
    public event Action<ReloadResult>? ReloadFailed;

    private bool Fail(string path, string reason, DateTimeOffset now, Exception error, byte[]? hash = null)
    {
        var result = new ReloadResult(now, false, "failed", $"{path}: {reason}", hash);
        Volatile.Write(ref _lastReload, result);
        TlsLog.ReloadFailed(logger, error, path, reason, Current?.Thumbprint ?? "nothing");
        ReloadFailed?.Invoke(result);
        return false;
    }
}

internal sealed record ReloadResult(DateTimeOffset At, bool Succeeded, string Outcome, string? Error, byte[]? ContentHash);
