using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace ProxySidecar.Tls;

/// <summary>One loaded client CA bundle, immutable: the only roots client certificates are checked against.</summary>
internal sealed class ClientCaBundle
{
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    private readonly X509ChainPolicy _policy;

    public ClientCaBundle(X509Certificate2Collection certificates, string source, byte[] contentHash)
    {
        Certificates = certificates;
        Source = source;
        ContentHash = contentHash;
        _policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        _policy.CustomTrustStore.AddRange(certificates);
        _policy.ApplicationPolicy.Add(ClientAuthentication);
    }

    public X509Certificate2Collection Certificates { get; }

    public string Source { get; }

    public byte[] ContentHash { get; }

    public IReadOnlyList<string> Subjects => Certificates.Select(c => c.Subject).ToArray();

    /// <summary>A fresh policy per handshake (the chain builder may change it): custom roots only, client authentication usage, no network.</summary>
    public X509ChainPolicy CreatePolicy() => _policy.Clone();

    /// <summary>Parses a PEM bundle; throws <see cref="CertificateLoadException"/> naming the file and the reason.</summary>
    public static ClientCaBundle Parse(string pem, string path, DateTimeOffset now)
    {
        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(pem));
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(pem);
        }
        catch (CryptographicException error)
        {
            throw new CertificateLoadException(path, $"the PEM CA bundle cannot be parsed ({error.Message})", error);
        }

        if (certificates.Count == 0)
        {
            throw new CertificateLoadException(path, "it holds no PEM certificate (expected one or more -----BEGIN CERTIFICATE----- blocks)");
        }

        if (certificates.All(c => now > new DateTimeOffset(c.NotAfter.ToUniversalTime())))
        {
            throw new CertificateLoadException(path, "every CA certificate in it has expired");
        }

        return new ClientCaBundle(certificates, path, hash);
    }
}

/// <summary>
/// The client CA bundle (<see cref="ClientCertificateOptions.CaPath"/>), loaded at start and reloaded by
/// the same poller as the server certificate; a bad new bundle keeps the last good one.
/// </summary>
internal sealed class ClientCertificateAuthority(
    IOptions<TlsOptions> options,
    TimeProvider time,
    ILogger<ClientCertificateAuthority> logger)
{
    private const string CaPathSetting = TlsOptions.Section + ":ClientCertificate:CaPath";

    private readonly ReloadTracker _tracker = new();
    private ClientCaBundle? _current;

    public ClientCertificateMode Mode => options.Value.ClientCertificate.Mode;

    public bool Enabled => Mode != ClientCertificateMode.None;

    /// <summary>The bundle new handshakes are checked against; null when client certificates are off.</summary>
    public ClientCaBundle? Current => Volatile.Read(ref _current);

    public ReloadResult? LastReload => _tracker.Last;

    public ReloadResult? LastError => _tracker.LastError;

    public long ReloadsSucceeded => _tracker.Succeeded;

    public long ReloadsFailed => _tracker.Failed;

    /// <summary>First load: a missing or bad bundle is a start-up error naming the setting.</summary>
    public void Initialize()
    {
        if (!Enabled)
        {
            return;
        }

        var path = options.Value.ClientCertificate.CaPath!;
        try
        {
            var bundle = ClientCaBundle.Parse(CertificateLoader.ReadText(path, "client CA bundle"), path, time.GetUtcNow());
            Volatile.Write(ref _current, bundle);
            _tracker.Loaded(time.GetUtcNow(), "loaded", bundle.ContentHash);
            TlsLog.ClientCaLoaded(logger, path, Mode, bundle.Certificates.Count);
        }
        catch (CertificateLoadException error)
        {
            throw new SidecarStartupException(
                $"{CaPathSetting}: cannot load the client CA bundle from {error.Path}: {error.Reason}. " +
                $"Mount the CA certificate(s) there as PEM, or set {CaPathSetting} (environment variable {CaPathSetting.Replace(":", "__", StringComparison.Ordinal)}) to the right file.",
                error);
        }
    }

    /// <summary>Reads the bundle again and publishes it if its content changed and it parses.</summary>
    public ReloadOutcome TryReload()
    {
        if (!Enabled)
        {
            return ReloadOutcome.Unchanged;
        }

        var path = options.Value.ClientCertificate.CaPath!;
        var now = time.GetUtcNow();
        string pem;
        try
        {
            pem = CertificateLoader.ReadText(path, "client CA bundle");
        }
        catch (CertificateLoadException error)
        {
            return Fail(error, now, ReloadTracker.KeyOf(error.Message));
        }

        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(pem));
        if (Current is { } current && hash.AsSpan().SequenceEqual(current.ContentHash))
        {
            _tracker.BackToCurrent(now, hash);
            return ReloadOutcome.Unchanged;
        }

        if (_tracker.IsKnownFailure(hash))
        {
            return ReloadOutcome.Unchanged;
        }

        try
        {
            var next = ClientCaBundle.Parse(pem, path, now);
            Volatile.Write(ref _current, next);
            _tracker.Reloaded(now, next.ContentHash);
            TlsLog.ClientCaReloaded(logger, path, next.Certificates.Count);
            return ReloadOutcome.Reloaded;
        }
        catch (CertificateLoadException error)
        {
            return Fail(error, now, hash);
        }
    }

    private ReloadOutcome Fail(CertificateLoadException error, DateTimeOffset now, byte[] key)
    {
        if (_tracker.IsKnownFailure(key))
        {
            return ReloadOutcome.Unchanged;
        }

        _tracker.Fail(now, $"{error.Path}: {error.Reason}", key);
        TlsLog.ClientCaReloadFailed(logger, error, error.Path, error.Reason);
        return ReloadOutcome.Failed;
    }
}
