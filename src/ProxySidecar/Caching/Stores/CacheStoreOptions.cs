using Microsoft.Extensions.Options;

namespace ProxySidecar.Caching.Stores;

/// <summary>Where cached responses are kept. The store kind needs a restart; timeouts and sizes are read at start.</summary>
public sealed class CacheStoreOptions
{
    public const string Section = "Sidecar:Cache";

    public const string MemoryStore = "Memory";

    public const string RedisStore = "Redis";

    /// <summary><c>Memory</c> (each replica keeps its own) or <c>Redis</c> (shared by every replica using the same Redis).</summary>
    public string Store { get; set; } = MemoryStore;

    public RedisStoreOptions Redis { get; set; } = new();

    internal bool UsesRedis => string.Equals(Store, RedisStore, StringComparison.OrdinalIgnoreCase);
}

/// <summary>The shared store in Redis.</summary>
public sealed class RedisStoreOptions
{
    /// <summary>A StackExchange.Redis configuration string, e.g. <c>redis:6379,password=...</c>.</summary>
    public string? Configuration { get; set; }

    /// <summary>Prefix of every key (and of the purge channel), so several sidecar fleets can share one Redis.</summary>
    public string InstanceName { get; set; } = "proxysidecar:";

    /// <summary>How long one attempt to connect may take. Start-up never waits for it.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The most a read or write may add to a request; slower answers count as failures and become misses.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a purge may take in Redis (it walks every key of a tag).</summary>
    public TimeSpan PurgeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public RedisBreakerOptions Breaker { get; set; } = new();

    public LocalCacheOptions LocalCache { get; set; } = new();
}

/// <summary>The circuit breaker in front of Redis: while it is open, Redis is skipped (reads miss, writes are dropped).</summary>
public sealed class RedisBreakerOptions
{
    /// <summary>Share of failed calls within <see cref="SamplingDuration"/> that opens the breaker (a healthy Redis fails none).</summary>
    public double FailureRatio { get; set; } = 0.25;

    /// <summary>Calls needed within <see cref="SamplingDuration"/> before the ratio counts.</summary>
    public int MinimumThroughput { get; set; } = 4;

    /// <summary>
    /// The window the ratio is measured over. Short, so that the successes from just before an outage stop
    /// counting quickly: until the breaker opens, each call may cost up to the operation timeout.
    /// </summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long Redis is skipped before one probe call tries it again.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>An optional in-memory first level in front of Redis for hot entries.</summary>
public sealed class LocalCacheOptions
{
    public bool Enabled { get; set; }

    /// <summary>Total payload bytes kept in memory.</summary>
    public long MaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Entries larger than this are not kept in memory (they are still served from Redis).</summary>
    public long MaxEntryBytes { get; set; } = 1024 * 1024;

    /// <summary>The longest an entry stays in memory; never beyond the entry's own lifetime in Redis.</summary>
    public TimeSpan MaxTimeToLive { get; set; } = TimeSpan.FromSeconds(5);
}

internal sealed class CacheStoreOptionsValidator : IValidateOptions<CacheStoreOptions>
{
    public ValidateOptionsResult Validate(string? name, CacheStoreOptions options)
    {
        var errors = new List<string>();
        const string p = CacheStoreOptions.Section + ":";
        if (!string.Equals(options.Store, CacheStoreOptions.MemoryStore, StringComparison.OrdinalIgnoreCase) && !options.UsesRedis)
        {
            errors.Add($"{p}Store: \"{options.Store}\" is not a store. Use \"Memory\" (default, one cache per replica) or \"Redis\" (shared, needs {p}Redis:Configuration).");
        }

        if (options.UsesRedis)
        {
            ValidateRedis(errors, p + "Redis:", options.Redis);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateRedis(List<string> errors, string p, RedisStoreOptions redis)
    {
        if (string.IsNullOrWhiteSpace(redis.Configuration))
        {
            errors.Add($"{p}Configuration: is empty, but {CacheStoreOptions.Section}:Store is Redis. Set it to a StackExchange.Redis configuration string, e.g. \"redis:6379\" (environment: Sidecar__Cache__Redis__Configuration), or set {CacheStoreOptions.Section}:Store to Memory.");
        }
        else
        {
            try
            {
                var parsed = StackExchange.Redis.ConfigurationOptions.Parse(redis.Configuration);
                if (parsed.EndPoints.Count == 0)
                {
                    errors.Add($"{p}Configuration: names no server. Give at least one host:port, e.g. \"redis:6379\".");
                }
            }
            catch (ArgumentException ex)
            {
                errors.Add($"{p}Configuration: is not a StackExchange.Redis configuration string ({ex.Message}). Use e.g. \"redis:6379,password=secret\".");
            }
        }

        CheckTimeout(errors, p + nameof(RedisStoreOptions.ConnectTimeout), redis.ConnectTimeout, TimeSpan.FromSeconds(30), "00:00:00.250");
        CheckTimeout(errors, p + nameof(RedisStoreOptions.OperationTimeout), redis.OperationTimeout, TimeSpan.FromSeconds(30), "00:00:00.250");
        CheckTimeout(errors, p + nameof(RedisStoreOptions.PurgeTimeout), redis.PurgeTimeout, TimeSpan.FromMinutes(5), "00:00:05");

        var b = p + "Breaker:";
        if (redis.Breaker.FailureRatio is <= 0 or > 1 || double.IsNaN(redis.Breaker.FailureRatio))
        {
            errors.Add($"{b}FailureRatio: {redis.Breaker.FailureRatio} is out of range. Use a number above 0 and at most 1 (default 0.25).");
        }

        if (redis.Breaker.MinimumThroughput < 2)
        {
            errors.Add($"{b}MinimumThroughput: {redis.Breaker.MinimumThroughput} is too small. Use at least 2 (default 4).");
        }

        if (redis.Breaker.SamplingDuration < TimeSpan.FromMilliseconds(500) || redis.Breaker.SamplingDuration > TimeSpan.FromDays(1))
        {
            errors.Add($"{b}SamplingDuration: {redis.Breaker.SamplingDuration} is out of range. Use from 00:00:00.5 to 1.00:00:00 (default 00:00:01).");
        }

        if (redis.Breaker.BreakDuration < TimeSpan.FromMilliseconds(500) || redis.Breaker.BreakDuration > TimeSpan.FromDays(1))
        {
            errors.Add($"{b}BreakDuration: {redis.Breaker.BreakDuration} is out of range. Use from 00:00:00.5 to 1.00:00:00 (default 00:00:02).");
        }

        var l = p + "LocalCache:";
        if (redis.LocalCache.MaxBytes < 1024)
        {
            errors.Add($"{l}MaxBytes: {redis.LocalCache.MaxBytes} is too small. Use at least 1024 (default 67108864, 64 MiB).");
        }

        if (redis.LocalCache.MaxEntryBytes < 1 || redis.LocalCache.MaxEntryBytes > redis.LocalCache.MaxBytes)
        {
            errors.Add($"{l}MaxEntryBytes: {redis.LocalCache.MaxEntryBytes} must be at least 1 and at most {l}MaxBytes ({redis.LocalCache.MaxBytes}).");
        }

        if (redis.LocalCache.MaxTimeToLive <= TimeSpan.Zero || redis.LocalCache.MaxTimeToLive > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{l}MaxTimeToLive: {redis.LocalCache.MaxTimeToLive} is out of range. Use a short time span above zero and at most 00:10:00 (default 00:00:05): it bounds how long a replica may miss a purge.");
        }
    }

    private static void CheckTimeout(List<string> errors, string key, TimeSpan value, TimeSpan max, string example)
    {
        if (value < TimeSpan.FromMilliseconds(1) || value > max)
        {
            errors.Add($"{key}: {value} is out of range. Use a time span above zero and at most {max}, e.g. \"{example}\".");
        }
    }
}
