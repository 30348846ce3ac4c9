using System.Security.Cryptography;
using ProxySidecar.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>
/// The Redis that the redis component renders, run for real: its own start script under /bin/sh, its ConfigMap's
/// redis.conf, the password from the environment (as secretKeyRef gives it).
/// </summary>
public sealed class RedisManifestTests
{
    private static RedisManifest Manifest() => RedisManifest.From(Kustomize.Render("k8s/redis"));

    private static string NewPassword() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    [RedisKubectlFact]
    public async Task StartScript_RequiresThePasswordFromTheEnvironment_AndKeepsItOffTheCommandLine()
    {
        var password = NewPassword();
        await using var redis = await RenderedRedisProcess.StartAsync(Manifest(), password);

        Assert.StartsWith("-NOAUTH", await redis.RawAsync("PING"), StringComparison.Ordinal);
        Assert.StartsWith("-WRONGPASS", await redis.RawAsync("AUTH not-the-password"), StringComparison.Ordinal);
        using var connection = await ConnectAsync(redis, password);
        Assert.Equal("PONG", (string?)await connection.GetDatabase().ExecuteAsync("PING"));

        // exec: the shell became redis-server (it gets SIGTERM as PID 1 would), and the password is on no command line.
        Assert.StartsWith("redis-server", redis.CommandLine, StringComparison.Ordinal);
        Assert.DoesNotContain(password, redis.CommandLine, StringComparison.Ordinal);
    }

    [RedisKubectlFact]
    public async Task Config_IsTheConfigMapsRedisConf_ACacheWithoutPersistenceThatNeverEvicts()
    {
        var password = NewPassword();
        await using var redis = await RenderedRedisProcess.StartAsync(Manifest(), password);
        using var connection = await ConnectAsync(redis, password);
        var server = connection.GetServer(connection.GetEndPoints().Single());

        Assert.Equal("noeviction", Config(server, "maxmemory-policy"));
        Assert.Equal(RedisManifest.Bytes(Manifest().Directive("maxmemory")!).ToString(System.Globalization.CultureInfo.InvariantCulture), Config(server, "maxmemory"));
        Assert.Equal("", Config(server, "save"));
        Assert.Equal("no", Config(server, "appendonly"));
    }

    /// <summary>
    /// The sidecar keeps purge markers as keys with a lifetime and tag sets as keys without one: a full Redis must refuse
    /// the write that does not fit, never drop either of them to make room (which would silently undo a purge).
    /// </summary>
    [RedisKubectlFact]
    public async Task Config_WhenFull_RefusesWritesAndKeepsMarkersAndTagSets()
    {
        var password = NewPassword();
        await using var redis = await RenderedRedisProcess.StartAsync(Manifest(), password, extraConfig: "maxmemory 4mb");
        using var connection = await ConnectAsync(redis, password);
        var db = connection.GetDatabase();
        await db.StringSetAsync("proxysidecar:__MSOCV_psc1:evicted:tag:product-42", new byte[8], TimeSpan.FromDays(1));
        await db.SortedSetAddAsync("proxysidecar:__MSOCT_psc1:tag:product-42", "entry", 1);

        var entry = new byte[64 * 1024];
        RedisServerException? refused = null;
        for (var i = 0; i < 1000 && refused is null; i++)
        {
            try
            {
                await db.StringSetAsync($"proxysidecar:__MSOCV_entry-{i}", entry, TimeSpan.FromMinutes(5));
            }
            catch (RedisServerException error)
            {
                refused = error;
            }
        }

        Assert.NotNull(refused);
        Assert.StartsWith("OOM", refused.Message, StringComparison.Ordinal);
        Assert.True(await db.KeyExistsAsync("proxysidecar:__MSOCV_psc1:evicted:tag:product-42"), "the purge marker was evicted");
        Assert.True(await db.KeyExistsAsync("proxysidecar:__MSOCT_psc1:tag:product-42"), "the tag set was evicted");
        Assert.True(await db.KeyExistsAsync("proxysidecar:__MSOCV_entry-0"), "an entry was evicted");
    }

    [RedisKubectlFact]
    public void StartScript_EmptyOrUnsafePassword_RefusesToStart()
    {
        // Empty would turn authentication off; a comma would cut the sidecar's configuration string; a space or quote would break redis.conf.
        foreach (var password in new[] { "", "abc,def", "abc def", "abc\"def" })
        {
            var (exitCode, output) = RenderedRedisProcess.RunToExit(Manifest(), password);

            Assert.NotEqual(0, exitCode);
            Assert.Contains("proxysidecar-redis", output, StringComparison.Ordinal);
        }
    }

    private static async Task<ConnectionMultiplexer> ConnectAsync(RenderedRedisProcess redis, string password)
    {
        var options = ConfigurationOptions.Parse($"127.0.0.1:{redis.Port}");
        options.Password = password;
        options.AllowAdmin = true;
        options.AbortOnConnectFail = true;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    private static string Config(IServer server, string name) => Assert.Single(server.ConfigGet(name)).Value;
}

/// <summary>A fact that needs kubectl and redis-server: skipped with a reason where one is missing, except under CI=true.</summary>
public sealed class RedisKubectlFactAttribute : FactAttribute
{
    public RedisKubectlFactAttribute()
    {
        if ((Kustomize.SkipReason ?? RedisServer.SkipReason) is { } reason)
        {
            Skip = reason;
        }
    }
}
