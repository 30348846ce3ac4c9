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
}
