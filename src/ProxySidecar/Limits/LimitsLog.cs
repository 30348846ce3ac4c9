namespace ProxySidecar.Limits;

/// <summary>Logs of the limits, event ids 700-799.</summary>
internal static partial class LimitsLog
{
    [LoggerMessage(701, LogLevel.Information, "Limits reloaded: {RuleCount} rate-limit rules, app cap {MaxConcurrentRequests}, connections per client {MaxConnectionsPerClient}.")]
    public static partial void Reloaded(ILogger logger, int ruleCount, string maxConcurrentRequests, string maxConnectionsPerClient);

    [LoggerMessage(702, LogLevel.Warning, "Rate-limit rule {Rule} keeps track of {MaxPartitions} clients, its most: new clients share one overflow partition until idle ones are dropped (Sidecar:Limits:MaxPartitions).")]
    public static partial void TableFull(ILogger logger, string rule, int maxPartitions);

    [LoggerMessage(703, LogLevel.Error, "The limits heartbeat failed; it runs again on the next beat.")]
    public static partial void HeartbeatFailed(ILogger logger, Exception error);
}
