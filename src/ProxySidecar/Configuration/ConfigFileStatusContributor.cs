using ProxySidecar.Admin;

namespace ProxySidecar.Configuration;

/// <summary>The "configFile" section of /status: which file, when it last applied, and why the last change was rejected.</summary>
internal sealed class ConfigFileStatusContributor(ConfigFileStatus status) : IStatusContributor
{
    public string Name => "configFile";

    public object GetStatus() => new ConfigFileStatusSnapshot(status.Path, status.LastReload, status.LastError);
}

internal sealed record ConfigFileStatusSnapshot(string Path, DateTimeOffset? LastReload, string? LastError);
