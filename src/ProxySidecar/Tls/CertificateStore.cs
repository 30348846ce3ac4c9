using Microsoft.Extensions.Options;

namespace ProxySidecar.Tls;

/// <summary>
/// The certificate every new TLS handshake gets. Readers never lock: a new pair is loaded and checked
/// off the handshake path and published with one write; a pair that fails keeps the last good one.
/// </summary>
/// <remarks>
/// Replaced certificates are never disposed: a handshake that read <see cref="Current"/> a moment
/// before a swap may still be using the old one, and the garbage collector frees it once nothing does.
/// </remarks>
internal sealed class CertificateStore(
    IOptions<TlsOptions> options,
    IHostEnvironment environment,
    TimeProvider time,
    ILogger<CertificateStore> logger)
{
    private readonly ReloadTracker _tracker = new();
    private ServerCertificate? _current;

    /// <summary>The certificate new handshakes get; null only before start-up finished.</summary>
    public ServerCertificate? Current => Volatile.Read(ref _current);

    /// <summary>The last load or reload that did something: loaded, reloaded, failed, or back to the served pair.</summary>
    public ReloadResult? LastReload => _tracker.Last;

    /// <summary>The most recent failed reload, kept after later successes.</summary>
    public ReloadResult? LastError => _tracker.LastError;

    public long ReloadsSucceeded => _tracker.Succeeded;

    public long ReloadsFailed => _tracker.Failed;

    /// <summary>Raised after a new certificate is published.</summary>
    public event Action<ServerCertificate>? CertificateChanged;

    /// <summary>Raised when a reload fails; the current certificate stays.</summary>
    public event Action<ReloadResult>? ReloadFailed;

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
    /// Reads the files again and publishes the pair if its content changed. A bad pair keeps the current
    /// one; each distinct failure (content, or a missing/unreadable file) is logged and counted once.
    /// </summary>
    public ReloadOutcome TryReload()
    {
        var tls = options.Value;
        var now = time.GetUtcNow();
        var current = Current;
        string certificatePem;
        string keyPem;
        try
        {
            (certificatePem, keyPem) = CertificateLoader.ReadPair(tls.CertificatePath, tls.KeyPath);
        }
        catch (CertificateLoadException error)
        {
            // Development serves a generated certificate until one is mounted; waiting for it is not a failure.
            if (current?.Source == DevelopmentCertificate.Source && !File.Exists(tls.CertificatePath))
            {
                return ReloadOutcome.Unchanged;
            }

            return Fail(error, now, ReloadTracker.KeyOf(error.Message));
        }

        var hash = CertificateLoader.Hash(certificatePem, keyPem);
        if (current is not null && hash.AsSpan().SequenceEqual(current.ContentHash))
        {
            _tracker.BackToCurrent(now, hash);
            return ReloadOutcome.Unchanged;
        }

        // The same broken content is reported once, not on every poll.
        if (_tracker.IsKnownFailure(hash))
        {
            return ReloadOutcome.Unchanged;
        }

        ServerCertificate next;
        try
        {
            next = CertificateLoader.Load(certificatePem, keyPem, tls.CertificatePath, tls.KeyPath, now);
        }
        catch (CertificateLoadException error)
        {
            // Two files written one after the other (not kubelet's atomic swap) can be read half old, half new.
            // If the content moved while it was being read, the next poll sees the settled pair.
            if (ChangedSince(tls, hash))
            {
                return ReloadOutcome.Unchanged;
            }

            return Fail(error, now, hash);
        }

        Volatile.Write(ref _current, next);
        _tracker.Reloaded(now, next.ContentHash);
        TlsLog.Reloaded(logger, tls.CertificatePath, next.Subject, next.Thumbprint, next.NotAfter);
        CertificateChanged?.Invoke(next);
        return ReloadOutcome.Reloaded;
    }

    /// <summary>Publishes a certificate directly (first load, generated certificates, tests).</summary>
    internal void Publish(ServerCertificate certificate, string outcome)
    {
        Volatile.Write(ref _current, certificate);
        _tracker.Loaded(time.GetUtcNow(), outcome, certificate.ContentHash);
        CertificateChanged?.Invoke(certificate);
    }

    private static bool ChangedSince(TlsOptions tls, byte[] hash)
    {
        try
        {
            var (certificatePem, keyPem) = CertificateLoader.ReadPair(tls.CertificatePath, tls.KeyPath);
            return !CertificateLoader.Hash(certificatePem, keyPem).AsSpan().SequenceEqual(hash);
        }
        catch (CertificateLoadException)
        {
            return true;
        }
    }

    private ReloadOutcome Fail(CertificateLoadException error, DateTimeOffset now, byte[] key)
    {
        if (_tracker.IsKnownFailure(key))
        {
            return ReloadOutcome.Unchanged;
        }

        var result = _tracker.Fail(now, $"{error.Path}: {error.Reason}", key);
        TlsLog.ReloadFailed(logger, error, error.Path, error.Reason, Current?.Thumbprint ?? "nothing");
        ReloadFailed?.Invoke(result);
        return ReloadOutcome.Failed;
    }
}
