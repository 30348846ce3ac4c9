using StackExchange.Redis;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// Carries purges between replicas over Redis pub/sub, so every replica's in-memory first level drops
/// what a purge on any replica removed from Redis. Messages: <c>t:&lt;tag&gt;</c>.
/// A replica whose pub/sub connection dropped clears its first level when it comes back, since it may
/// have missed announcements.
/// </summary>
internal sealed partial class RedisPurgeChannel
{
    private const string TagPrefix = "t:";

    private readonly RedisConnection _connection;
    private readonly LocalCacheLevel? _localCache;
    private readonly RedisChannel _channel;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private volatile bool _subscribed;

    public RedisPurgeChannel(RedisConnection connection, RedisStoreOptions options, LocalCacheLevel? localCache, TimeProvider timeProvider, ILogger<RedisPurgeChannel> logger)
    {
        _connection = connection;
        _localCache = localCache;
        _channel = RedisChannel.Literal(options.InstanceName + "purge");
        _timeout = options.PurgeTimeout;
        _timeProvider = timeProvider;
        _logger = logger;
        if (localCache is not null)
        {
            connection.SubscriptionRestored += OnSubscriptionRestored;
        }
    }

    /// <summary>True once this replica listens for purges of other replicas (only when it has a first level).</summary>
    public bool Subscribed => _subscribed;

    /// <summary>Subscribes (retrying until Redis answers or <paramref name="stoppingToken"/> fires). Nothing to do without a first level.</summary>
    public async Task SubscribeAsync(CancellationToken stoppingToken)
    {
        if (_localCache is null)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var multiplexer = await _connection.GetAsync().ConfigureAwait(false);
                await multiplexer.GetSubscriber().SubscribeAsync(_channel, OnMessage).WaitAsync(_timeout, _timeProvider, stoppingToken).ConfigureAwait(false);
                _subscribed = true;
                _localCache.Clear();
                Log.Subscribed(_logger, _channel.ToString());
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
            {
                Log.SubscribeFailed(_logger, ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _timeProvider, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Tells every replica that <paramref name="tag"/> was purged.</summary>
    public async Task AnnounceTagAsync(string tag, CancellationToken cancellationToken)
    {
        var multiplexer = await _connection.GetAsync().WaitAsync(_timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        var receivers = await multiplexer.GetSubscriber().PublishAsync(_channel, TagPrefix + tag).WaitAsync(_timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        Log.Announced(_logger, tag, receivers);
    }

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        var text = (string?)message;
        if (text is null || !text.StartsWith(TagPrefix, StringComparison.Ordinal) || _localCache is null)
        {
            return;
        }

        var tag = text[TagPrefix.Length..];
        var removed = _localCache.EvictTag(tag);
        Log.Received(_logger, tag, removed);
    }

    private void OnSubscriptionRestored()
    {
        // Announcements sent while this replica was cut off are lost: forget everything held locally.
        _localCache?.Clear();
        Log.ClearedAfterReconnect(_logger);
    }

    private static partial class Log
    {
        [LoggerMessage(521, LogLevel.Information, "Listening for purges of other replicas on Redis channel {Channel}.")]
        public static partial void Subscribed(ILogger logger, string channel);

        [LoggerMessage(522, LogLevel.Debug, "Subscribing to purge announcements failed; retrying: {Reason}")]
        public static partial void SubscribeFailed(ILogger logger, string reason);

        [LoggerMessage(523, LogLevel.Debug, "Announced the purge of tag {Tag} to {Receivers} replica(s).")]
        public static partial void Announced(ILogger logger, string tag, long receivers);

        [LoggerMessage(524, LogLevel.Debug, "Purge of tag {Tag} announced by a replica: {Removed} entries dropped from memory.")]
        public static partial void Received(ILogger logger, string tag, int removed);

        [LoggerMessage(525, LogLevel.Information, "Redis pub/sub reconnected: cleared the in-memory first level (purges may have been missed).")]
        public static partial void ClearedAfterReconnect(ILogger logger);
    }
}
