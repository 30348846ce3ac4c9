namespace ProxySidecar.Tls;

internal static partial class TlsLog
{
    [LoggerMessage(201, LogLevel.Information, "Serving certificate from {Path}: {Subject}, SHA-256 {Thumbprint}, valid until {NotAfter:O}.")]
    public static partial void Loaded(ILogger logger, string path, string subject, string thumbprint, DateTimeOffset notAfter);

    [LoggerMessage(202, LogLevel.Warning, "No certificate at {Path} ({Reason}); Development environment, so serving a generated self-signed certificate for localhost. Never use this outside development.")]
    public static partial void UsingGeneratedCertificate(ILogger logger, string path, string reason);

    [LoggerMessage(203, LogLevel.Information, "Certificate reloaded from {Path}: {Subject}, SHA-256 {Thumbprint}, valid until {NotAfter:O}.")]
    public static partial void Reloaded(ILogger logger, string path, string subject, string thumbprint, DateTimeOffset notAfter);

    [LoggerMessage(204, LogLevel.Error, "Reloading the certificate failed: {Path}: {Reason}. Still serving SHA-256 {Thumbprint}.")]
    public static partial void ReloadFailed(ILogger logger, Exception error, string path, string reason, string thumbprint);

    [LoggerMessage(205, LogLevel.Information, "Client certificates {Mode}: {Count} CA certificate(s) loaded from {Path}.")]
    public static partial void ClientCaLoaded(ILogger logger, string path, ClientCertificateMode mode, int count);

    [LoggerMessage(206, LogLevel.Information, "Client CA bundle reloaded from {Path}: {Count} CA certificate(s).")]
    public static partial void ClientCaReloaded(ILogger logger, string path, int count);

    [LoggerMessage(207, LogLevel.Error, "Reloading the client CA bundle failed: {Path}: {Reason}. The last good bundle stays.")]
    public static partial void ClientCaReloadFailed(ILogger logger, Exception error, string path, string reason);

    [LoggerMessage(208, LogLevel.Error, "The certificate reload poll failed unexpectedly; it runs again in {Interval}.")]
    public static partial void PollFailed(ILogger logger, Exception error, TimeSpan interval);
}
