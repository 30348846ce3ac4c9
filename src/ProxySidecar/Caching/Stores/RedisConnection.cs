using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// The one Redis connection of the process, shared by the store and the purge channel. It is created on
/// first use or by <see cref="SharedCacheStartup"/> in the background, never awaited by start-up; it fails
/// fast (no command backlog, short timeouts) and reconnects by itself within a couple of seconds of Redis
/// coming back.
/// </summary>
internal sealed partial class RedisConnection : IAsyncDisposable
{
    private readonly ConfigurationOptions _configuration;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private Task<IConnectionMultiplexer>? _connecting;
    private ConnectionMultiplexer? _multiplexer;
    private StoreError? _lastError;
    private bool _disposed;

    public RedisConnection(IOptions<CacheStoreOptions> options, TimeProvider timeProvider, ILogger<RedisConnection> logger)
    {
        _configuration = BuildConfiguration(options.Value.Redis);
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Raised when the pub/sub connection comes back (purge announcements may have been missed meanwhile).</summary>
    public event Action? SubscriptionRestored;

    /// <summary>Raised when the pub/sub connection drops (no purge announcements arrive until it is restored).</summary>
    public event Action? SubscriptionLost;

    public bool IsConnected => Volatile.Read(ref _multiplexer)?.IsConnected ?? false;

    /// <summary>The configured servers, for /status (never the password).</summary>
    public string Endpoints => string.Join(",", _configuration.EndPoints.Select(e => e.ToString()));

    public StoreError? LastError
    {
        get
        {
            lock (_gate)
            {
                return _lastError;
            }
        }
    }

    /// <summary>
    /// StackExchange.Redis settings for a cache that must never slow requests down: no abort when the first
    /// connect fails, connect and operation timeouts from the options, commands fail at once instead of
    /// queueing while disconnected, and quick reconnect attempts (backing off to 2 s).
    /// </summary>
    internal static ConfigurationOptions BuildConfiguration(RedisStoreOptions options)
    {
        var configuration = ConfigurationOptions.Parse(options.Configuration ?? string.Empty);
        configuration.AbortOnConnectFail = false;
        configuration.ConnectRetry = 1;
        configuration.ConnectTimeout = Milliseconds(options.ConnectTimeout);
        configuration.SyncTimeout = Milliseconds(options.OperationTimeout);
        configuration.AsyncTimeout = Milliseconds(options.OperationTimeout);
        configuration.BacklogPolicy = BacklogPolicy.FailFast;
        configuration.ReconnectRetryPolicy = new ExponentialRetry(250, 2000);
        configuration.ClientName ??= "proxysidecar";
        return configuration;
    }

    /// <summary>The connection, connecting in the background on first call. Returns as soon as one attempt ended (connected or not).</summary>
    public Task<IConnectionMultiplexer> GetAsync()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connecting is null || _connecting.IsFaulted)
            {
                _connecting = ConnectAsync();
            }

            return _connecting;
        }
    }

    /// <summary>
    /// For the store: the connection if the first attempt has ended, otherwise starts it (if needed) and
    /// throws <see cref="SharedStoreNotReadyException"/> at once, so no request waits for a connection attempt.
    /// </summary>
    public Task<IConnectionMultiplexer> GetIfReadyAsync()
    {
        var connecting = GetAsync();
        return connecting.IsCompletedSuccessfully
            ? connecting
            : Task.FromException<IConnectionMultiplexer>(new SharedStoreNotReadyException($"Still connecting to Redis at {Endpoints}."));
    }

    public async ValueTask DisposeAsync()
    {
        ConnectionMultiplexer? multiplexer;
        lock (_gate)
        {
            _disposed = true;
            multiplexer = _multiplexer;
        }

        if (multiplexer is not null)
        {
            await multiplexer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<IConnectionMultiplexer> ConnectAsync()
    {
        // Never connect on the caller's thread: the first caller may be a request or start-up.
        await Task.Yield();
        var started = _timeProvider.GetTimestamp();
        try
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(_configuration).ConfigureAwait(false);
            multiplexer.ConnectionFailed += OnConnectionFailed;
            multiplexer.ConnectionRestored += OnConnectionRestored;
            lock (_gate)
            {
                _multiplexer = multiplexer;
            }

            if (multiplexer.IsConnected)
            {
                Log.Connected(_logger, Endpoints, _timeProvider.GetElapsedTime(started).TotalMilliseconds);
            }
            else
            {
                RecordError("connect", $"no connection to {Endpoints} yet; retrying in the background");
                Log.NotConnected(_logger, Endpoints, _timeProvider.GetElapsedTime(started).TotalMilliseconds);
            }

            return multiplexer;
        }
        catch (Exception ex)
        {
            RecordError("connect", ex.Message);
            Log.ConnectFailed(_logger, ex, Endpoints);
            throw;
        }
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        RecordError("connection", $"{e.FailureType} on {e.ConnectionType} connection to {e.EndPoint}: {e.Exception?.Message}");
        Log.ConnectionLost(_logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? Endpoints, e.FailureType.ToString());
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            SubscriptionLost?.Invoke();
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        Log.ConnectionRestored(_logger, e.ConnectionType.ToString(), e.EndPoint?.ToString() ?? Endpoints);
        if (e.ConnectionType == ConnectionType.Subscription)
        {
            SubscriptionRestored?.Invoke();
        }
    }

    private void RecordError(string operation, string message)
    {
        lock (_gate)
        {
            _lastError = new StoreError(_timeProvider.GetUtcNow(), operation, message);
        }
    }

    private static int Milliseconds(TimeSpan value) => (int)Math.Clamp(value.TotalMilliseconds, 1, int.MaxValue);

    private static partial class Log
    {
        [LoggerMessage(511, LogLevel.Information, "Connected to Redis at {Endpoints} in {ElapsedMs:0} ms.")]
        public static partial void Connected(ILogger logger, string endpoints, double elapsedMs);

        [LoggerMessage(512, LogLevel.Warning, "Redis at {Endpoints} is not reachable (gave up after {ElapsedMs:0} ms); the cache serves misses and keeps retrying in the background.")]
        public static partial void NotConnected(ILogger logger, string endpoints, double elapsedMs);

        [LoggerMessage(513, LogLevel.Error, "Connecting to Redis at {Endpoints} failed; will retry on next use.")]
        public static partial void ConnectFailed(ILogger logger, Exception error, string endpoints);

        [LoggerMessage(514, LogLevel.Warning, "Redis {ConnectionType} connection to {Endpoint} lost ({FailureType}); the cache degrades to misses until it is back.")]
        public static partial void ConnectionLost(ILogger logger, string connectionType, string endpoint, string failureType);

        [LoggerMessage(515, LogLevel.Information, "Redis {ConnectionType} connection to {Endpoint} restored.")]
        public static partial void ConnectionRestored(ILogger logger, string connectionType, string endpoint);
    }
}
