using System.Security.Cryptography;

namespace ProxySidecar.Configuration;

/// <summary>
/// The optional extra JSON file (a ConfigMap mount). Kubernetes updates a ConfigMap by swapping a
/// <c>..data</c> symlink, which file watchers miss, so the file's content is compared on a timer.
/// A file that does not parse keeps the last good values and reports the error.
/// </summary>
internal sealed class PollingJsonConfigurationSource(string path, TimeSpan interval, ConfigFileStatus status) : IConfigurationSource
{
    public string Path { get; } = path;

    public ConfigFileStatus Status { get; } = status;

    public TimeSpan Interval { get; } = interval;

    public IConfigurationProvider Build(IConfigurationBuilder builder) => new PollingJsonConfigurationProvider(this);
}

internal sealed class PollingJsonConfigurationProvider : ConfigurationProvider, IDisposable
{
    private readonly PollingJsonConfigurationSource _source;
    private readonly Timer _timer;
    private byte[]? _hash;

    public PollingJsonConfigurationProvider(PollingJsonConfigurationSource source)
    {
        _source = source;
        _timer = new Timer(_ => Poll(), null, source.Interval, source.Interval);
    }

    public string Path => _source.Path;

    public override void Load()
    {
        // First load: a missing file is allowed (the mount is optional); one that cannot be read (no permission,
        // a directory) or does not parse is a start-up error.
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(_source.Path);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            Data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            _hash = null;
            return;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new ConfigFileUnreadableException(_source.Path, error);
        }

        Data = Parse(bytes, _source.Path);
        _hash = SHA256.HashData(bytes);
    }

    public void Dispose() => _timer.Dispose();

    internal void Poll()
    {
        byte[]? bytes = null;
        try
        {
            if (File.Exists(_source.Path))
            {
                bytes = File.ReadAllBytes(_source.Path);
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // Mid-swap or unreadable for a moment: try again on the next tick.
            return;
        }

        var hash = bytes is null ? null : SHA256.HashData(bytes);
        if (hash is null ? _hash is null : _hash is not null && hash.AsSpan().SequenceEqual(_hash))
        {
            return;
        }

        var previous = Data;
        try
        {
            Data = bytes is null ? new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) : Parse(bytes, _source.Path);
            _hash = hash;
        }
        catch (FormatException error)
        {
            _hash = hash;
            _source.Status.OnFailed(error);
            return;
        }

        try
        {
            OnReload();
            _source.Status.OnReloaded();
        }
        catch (Exception error)
        {
            // A subscriber rejected the new values (options validation): the change is rejected as a whole.
            // Put the last good values back and announce them again, so every section (including the ones
            // that accepted the change) and every options monitor returns to the last good configuration.
            Data = previous;
            try
            {
                OnReload();
            }
            catch (Exception)
            {
                // The previous values validated when they were loaded; nothing more to restore.
            }

            _source.Status.OnFailed(error);
        }
    }

    private static Dictionary<string, string?> Parse(byte[] bytes, string path)
    {
        try
        {
            using var stream = new MemoryStream(bytes);
            var parsed = new ConfigurationBuilder().AddJsonStream(stream).Build();
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var (key, value) in parsed.AsEnumerable())
            {
                if (value is not null)
                {
                    data[key] = value;
                }
            }

            return data;
        }
        catch (Exception error) when (error is FormatException or System.Text.Json.JsonException or InvalidDataException)
        {
            throw new FormatException($"{path} is not valid JSON: {error.Message}", error);
        }
    }
}

internal static class ConfigFileExtensions
{
    public const string ConfigFileKey = "Sidecar:ConfigFile";
    public const string ConfigFileVariable = "PROXYSIDECAR_CONFIG";
    public const string ReloadIntervalKey = "Sidecar:ConfigFileReloadInterval";

    /// <summary>
    /// Adds the extra file named by <c>Sidecar:ConfigFile</c> or <c>PROXYSIDECAR_CONFIG</c>, above
    /// appsettings*.json and below environment variables and the command line.
    /// </summary>
    public static ConfigFileStatus? AddSidecarConfigFile(this IConfigurationManager configuration)
    {
        var path = configuration[ConfigFileKey];
        if (string.IsNullOrWhiteSpace(path))
        {
            path = Environment.GetEnvironmentVariable(ConfigFileVariable);
        }

        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        var interval = TimeSpan.TryParse(configuration[ReloadIntervalKey], System.Globalization.CultureInfo.InvariantCulture, out var parsed) && parsed > TimeSpan.Zero
            ? parsed
            : TimeSpan.FromSeconds(2);
        var fullPath = System.IO.Path.GetFullPath(path);
        var status = new ConfigFileStatus(fullPath);
        var source = new PollingJsonConfigurationSource(fullPath, interval, status);
        var sources = configuration.Sources;
        var index = sources.Count;
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i] is Microsoft.Extensions.Configuration.EnvironmentVariables.EnvironmentVariablesConfigurationSource { Prefix: null or "" })
            {
                index = i;
                break;
            }
        }

        try
        {
            sources.Insert(index, source);
        }
        catch (FormatException error)
        {
            throw new SidecarStartupException($"{ConfigFileKey}: {error.Message} Fix the file or unset {ConfigFileKey}/{ConfigFileVariable}.", error);
        }
        catch (ConfigFileUnreadableException error)
        {
            throw new SidecarStartupException(
                $"{ConfigFileKey}: {error.Path} cannot be read ({error.Reason}). Make it a file the sidecar's user can read " +
                $"(check the mount and its defaultMode), or unset {ConfigFileKey}/{ConfigFileVariable} to run without it.",
                error);
        }

        return status;
    }

}

/// <summary>The extra config file exists but cannot be read at start-up.</summary>
internal sealed class ConfigFileUnreadableException(string path, Exception inner) : Exception($"{path} cannot be read: {inner.Message}", inner)
{
    public string Path { get; } = path;

    /// <summary>Why, in a few words: "permission denied", "it is a directory", or the system's message.</summary>
    public string Reason { get; } = inner switch
    {
        UnauthorizedAccessException when Directory.Exists(path) => "it is a directory",
        UnauthorizedAccessException => "permission denied",
        _ => inner.Message,
    };
}

/// <summary>What happened to the extra config file's last change; logged, and shown in /status.</summary>
internal sealed class ConfigFileStatus(string path)
{
    private Outcome _last = new(null, null);

    public string Path { get; } = path;

    /// <summary>When a change last applied; null until one did.</summary>
    public DateTimeOffset? LastReload => Volatile.Read(ref _last).Reloaded;

    /// <summary>Why the last change was rejected; null when it applied.</summary>
    public string? LastError => Volatile.Read(ref _last).Error;

    public event Action<Exception>? Failed;

    public event Action? Reloaded;

    internal void OnFailed(Exception error)
    {
        Volatile.Write(ref _last, new Outcome(LastReload, error.Message));
        Failed?.Invoke(error);
    }

    internal void OnReloaded()
    {
        Volatile.Write(ref _last, new Outcome(DateTimeOffset.UtcNow, null));
        Reloaded?.Invoke();
    }

    // Read by /status while the poller writes: one immutable pair, swapped whole.
    private sealed record Outcome(DateTimeOffset? Reloaded, string? Error);
}
