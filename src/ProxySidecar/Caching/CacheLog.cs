namespace ProxySidecar.Caching;

/// <summary>Logs of the HTTP cache, event ids 400-499.</summary>
internal static partial class CacheLog
{
    [LoggerMessage(401, LogLevel.Warning, "Cache store {Operation} failed for {KeyHash}; the request goes on without the cache.")]
    public static partial void StoreFailed(ILogger logger, Exception error, string operation, string keyHash);

    [LoggerMessage(402, LogLevel.Information, "Cache configuration reloaded: {RuleCount} rules, enabled {Enabled}.")]
    public static partial void RulesReloaded(ILogger logger, int ruleCount, bool enabled);


    [LoggerMessage(404, LogLevel.Warning, "Background refresh of {KeyHash} failed.")]
    public static partial void RefreshFailed(ILogger logger, Exception error, string keyHash);

    [LoggerMessage(405, LogLevel.Information, "Cache purge: {Kind} {Target} (soft {Soft}).")]
    public static partial void Purged(ILogger logger, string kind, string target, bool soft);

    [LoggerMessage(406, LogLevel.Warning, "A stored record for {KeyHash} was rejected ({Reason}); treated as a miss. Another writer or version may share the store.")]
    public static partial void EntryRejected(ILogger logger, string keyHash, string reason);
}
