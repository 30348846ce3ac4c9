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
    private readonly TimeSpan _invalidationTimeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private bool _everSubscribed;
    private volatile bool _subscribed;

    public RedisPurgeChannel(RedisConnection connection, RedisStoreOptions options, LocalCacheLevel? localCache, TimeProvider timeProvider, ILogger<RedisPurgeChannel> logger)
    {
        _connection = connection;
        _localCache = localCache;
        _channel = RedisChannel.Literal(options.InstanceName + "purge");
        _timeout = options.PurgeTimeout;
        _invalidationTimeout = options.OperationTimeout;
        _timeProvider = timeProvider;
        _logger = logger;
        if (localCache is not null)
        {
            connection.SubscriptionRestored += OnSubscriptionRestored;
            connection.SubscriptionLost += OnSubscriptionLost;
        }
    }

    /// <summary>
    /// True while this replica listens for purges of other replicas (only when it has a first level): false
    /// until the first subscription, while the pub/sub connection is down, and true again once it is restored
    /// (StackExchange.Redis subscribes again on the restored connection).
    /// </summary>
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
                lock (_gate)
                {
                    _everSubscribed = true;
                    _subscribed = true;
                }

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

    /// <summary>Tells every replica that <paramref name="tag"/> was purged (within the purge timeout).</summary>
    public Task AnnounceTagAsync(string tag, CancellationToken cancellationToken) => AnnounceAsync(tag, _timeout, cancellationToken);

    /// <summary>Tells every replica that <paramref name="tag"/> was invalidated by a request (within the operation timeout).</summary>
    public Task AnnounceInvalidationAsync(string tag, CancellationToken cancellationToken) => AnnounceAsync(tag, _invalidationTimeout, cancellationToken);

    private async Task AnnounceAsync(string tag, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var multiplexer = await _connection.GetAsync().WaitAsync(timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
        var receivers = await multiplexer.GetSubscriber().PublishAsync(_channel, TagPrefix + tag).WaitAsync(timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
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
        lock (_gate)
        {
            _subscribed = _everSubscribed;
        }

        Log.ClearedAfterReconnect(_logger);
    }

    private void OnSubscriptionLost()
    {
        lock (_gate)
        {
            _subscribed = false;
        }

        Log.Unsubscribed(_logger);
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

        [LoggerMessage(526, LogLevel.Warning, "Redis pub/sub connection lost: purges of other replicas are not heard until it is back; the first level keeps entries no longer than its MaxTimeToLive.")]
        public static partial void Unsubscribed(ILogger logger);
    }
}
