namespace ProxySidecar.Logging;

/// <summary>One JSON access-log line per request.</summary>
public sealed class AccessLogOptions
{
    public const string Section = "Sidecar:AccessLog";

    /// <summary>Turn the access log off with false.</summary>
    public bool Enabled { get; set; } = true;
}
