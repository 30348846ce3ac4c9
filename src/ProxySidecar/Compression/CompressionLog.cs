namespace ProxySidecar.Compression;

/// <summary>Logs of compression, event ids 800-899.</summary>
internal static partial class CompressionLog
{
    [LoggerMessage(801, LogLevel.Information, "Compression settings reloaded: enabled {Enabled}, {RuleCount} rules.")]
    public static partial void Reloaded(ILogger logger, bool enabled, int ruleCount);

    [LoggerMessage(802, LogLevel.Error, "The changed Sidecar:Compression settings could not be compiled; the last good settings stay: {Reason}")]
    public static partial void Rejected(ILogger logger, string reason);

    [LoggerMessage(803, LogLevel.Warning, "Compressing a stored entry of {KeyHash} failed; it is served as stored.")]
    public static partial void EncodeFailed(ILogger logger, Exception error, string keyHash);
}
