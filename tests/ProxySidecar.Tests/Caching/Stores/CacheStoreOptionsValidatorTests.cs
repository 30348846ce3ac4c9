using ProxySidecar.Caching.Stores;

namespace ProxySidecar.Tests.Caching.Stores;

public sealed class CacheStoreOptionsValidatorTests
{
    private readonly CacheStoreOptionsValidator _validator = new();

    [Fact]
    public void Validate_Defaults_AreValid()
    {
        Assert.True(_validator.Validate(null, new CacheStoreOptions()).Succeeded);
    }

    [Fact]
    public void Validate_RedisWithoutConfiguration_NamesTheKey()
    {
        var result = _validator.Validate(null, new CacheStoreOptions { Store = "Redis" });

        Assert.True(result.Failed);
        Assert.Contains("Sidecar:Cache:Redis:Configuration", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_UnknownStore_NamesTheKeyAndTheChoices()
    {
        var result = _validator.Validate(null, new CacheStoreOptions { Store = "Memcached" });

        Assert.True(result.Failed);
        Assert.Contains("Sidecar:Cache:Store", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Redis", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralBadRedisSettings_ReportsEveryOne()
    {
        var options = new CacheStoreOptions
        {
            Store = "redis",
            Redis = new RedisStoreOptions
            {
                Configuration = "127.0.0.1:6380",
                OperationTimeout = TimeSpan.Zero,
                ConnectTimeout = TimeSpan.FromMinutes(5),
                Breaker = new RedisBreakerOptions { FailureRatio = 2, MinimumThroughput = 1 },
                LocalCache = new LocalCacheOptions { MaxTimeToLive = TimeSpan.Zero },
            },
        };

        var result = _validator.Validate(null, options);

        Assert.True(result.Failed);
        foreach (var key in new[] { "Redis:OperationTimeout", "Redis:ConnectTimeout", "Breaker:FailureRatio", "Breaker:MinimumThroughput", "LocalCache:MaxTimeToLive" })
        {
            Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validate_RedisConfigurationWithoutServer_IsRejected()
    {
        var result = _validator.Validate(null, new CacheStoreOptions { Store = "Redis", Redis = new RedisStoreOptions { Configuration = "password=x" } });

        Assert.True(result.Failed);
        Assert.Contains("Sidecar:Cache:Redis:Configuration", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void BuildConfiguration_AppliesFailFastSettings()
    {
        var configuration = RedisConnection.BuildConfiguration(new RedisStoreOptions
        {
            Configuration = "redis:6379,connectTimeout=5000,abortConnect=true",
            ConnectTimeout = TimeSpan.FromMilliseconds(300),
            OperationTimeout = TimeSpan.FromMilliseconds(200),
        });

        Assert.False(configuration.AbortOnConnectFail);
        Assert.Equal(300, configuration.ConnectTimeout);
        Assert.Equal(200, configuration.AsyncTimeout);
        Assert.Equal(200, configuration.SyncTimeout);
        Assert.Same(StackExchange.Redis.BacklogPolicy.FailFast, configuration.BacklogPolicy);
    }
}
