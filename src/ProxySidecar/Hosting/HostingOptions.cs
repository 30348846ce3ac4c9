using System.Net;
using Microsoft.Extensions.Options;

namespace ProxySidecar.Hosting;

/// <summary>Listeners, Kestrel limits and shutdown. Changes need a restart.</summary>
public sealed class HostingOptions
{
    public const string Section = "Sidecar:Hosting";

    /// <summary>Public HTTPS port (0 picks a free port).</summary>
    public int HttpsPort { get; set; } = 8443;

    /// <summary>Plain-HTTP admin port: probes, status, metrics, purge.</summary>
    public int AdminPort { get; set; } = 9901;

    /// <summary>Optional plain-HTTP port that answers every request with 308 to the HTTPS URL; null (default) is off.</summary>
    public int? HttpRedirectPort { get; set; }

    /// <summary>The HTTPS port clients use (the Service's port), put in redirect Locations; 443 is left out of the URL.</summary>
    public int PublicHttpsPort { get; set; } = 443;

    /// <summary>Address the HTTPS listener binds to.</summary>
    public string ListenAddress { get; set; } = "0.0.0.0";

    /// <summary>Address the admin listener binds to. The kubelet probes the pod IP, so the default is every interface.</summary>
    public string AdminListenAddress { get; set; } = "0.0.0.0";

    /// <summary>How long in-flight requests may run after SIGTERM before the process exits.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// After SIGTERM, keep accepting new connections this long (readiness already 503) so that
    /// load balancers stop sending traffic before the listener closes.
    /// </summary>
    public TimeSpan ShutdownDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Maximum open connections on the public port; null is unlimited.</summary>
    public long? MaxConnections { get; set; }

    /// <summary>Largest request body forwarded, in bytes; larger requests get 413. Null is unlimited.</summary>
    public long? MaxRequestBodyBytes { get; set; } = 30_000_000;

    /// <summary>Total size of the request line's headers; more gets 431.</summary>
    public int MaxRequestHeadersTotalBytes { get; set; } = 32 * 1024;

    /// <summary>Number of request headers; more gets 431.</summary>
    public int MaxRequestHeaderCount { get; set; } = 100;

    /// <summary>Longest request line (method, target, version); longer gets 414.</summary>
    public int MaxRequestLineBytes { get; set; } = 8 * 1024;

    /// <summary>Time a client has to send all request headers (slow-loris protection).</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Slowest request body accepted, in bytes per second averaged since the body started, once
    /// <see cref="MinRequestBodyGracePeriod"/> has passed; a slower client gets 408 and its connection is closed
    /// (slow-body protection). 0 turns the check off.
    /// </summary>
    public double MinRequestBodyBytesPerSecond { get; set; } = 240;

    /// <summary>How long a request body may be slower than <see cref="MinRequestBodyBytesPerSecond"/> before it counts.</summary>
    public TimeSpan MinRequestBodyGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Read whole request bodies before the app sees the request (off by default).</summary>
    public RequestBufferingOptions RequestBuffering { get; set; } = new();

    /// <summary>Idle keep-alive connections are closed after this.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(130);

    /// <summary>
    /// Forward request header names that contain an underscore. Off (the default, as nginx's underscores_in_headers):
    /// such headers are dropped before the cache and the app see the request.
    /// </summary>
    public bool AllowUnderscoresInHeaders { get; set; }
}

/// <summary>
/// Request buffering, as nginx's proxy_request_buffering: the whole body is read (into memory) before the request head
/// is forwarded, so a slow, cut-off or malformed body never reaches the app, and a chunked body arrives with a
/// Content-Length.
/// </summary>
public sealed class RequestBufferingOptions
{
    public bool Enabled { get; set; }

    /// <summary>Largest body buffered; a larger one gets 413 (together with MaxRequestBodyBytes, the smaller wins).</summary>
    public long MaxBytes { get; set; } = 1024 * 1024;

    /// <summary>Memory all buffered bodies together may hold; a request that would go over gets 503 with Retry-After.</summary>
    public long MaxTotalBytes { get; set; } = 64 * 1024 * 1024;
}

internal sealed class HostingOptionsValidator : IValidateOptions<HostingOptions>
{
    public ValidateOptionsResult Validate(string? name, HostingOptions options)
    {
        var errors = new List<string>();
        const string p = HostingOptions.Section + ":";
        CheckPort(errors, p + nameof(HostingOptions.HttpsPort), options.HttpsPort);
        CheckPort(errors, p + nameof(HostingOptions.AdminPort), options.AdminPort);
        if (options.HttpsPort != 0 && options.HttpsPort == options.AdminPort)
        {
            errors.Add($"{p}AdminPort: {options.AdminPort} is also the HTTPS port. Give the admin listener its own port (default 9901).");
        }

        if (options.HttpRedirectPort is { } redirectPort)
        {
            CheckPort(errors, p + nameof(HostingOptions.HttpRedirectPort), redirectPort);
            if (redirectPort != 0 && (redirectPort == options.HttpsPort || redirectPort == options.AdminPort))
            {
                errors.Add($"{p}HttpRedirectPort: {redirectPort} is already the HTTPS or admin port. Give the redirect listener its own port (e.g. 8080 if the app does not use it), or remove it.");
            }
        }

        if (options.PublicHttpsPort is < 1 or > 65535)
        {
            errors.Add($"{p}PublicHttpsPort: {options.PublicHttpsPort} is not a TCP port. Use the HTTPS port clients connect to (default 443).");
        }

        CheckAddress(errors, p + nameof(HostingOptions.ListenAddress), options.ListenAddress);
        CheckAddress(errors, p + nameof(HostingOptions.AdminListenAddress), options.AdminListenAddress);
        if (options.DrainTimeout < TimeSpan.Zero || options.DrainTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"{p}DrainTimeout: {options.DrainTimeout} is out of range. Use a time span from 00:00:00 to 01:00:00, e.g. \"00:00:25\".");
        }

        if (options.ShutdownDelay < TimeSpan.Zero || options.ShutdownDelay > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{p}ShutdownDelay: {options.ShutdownDelay} is out of range. Use a time span from 00:00:00 to 00:10:00.");
        }

        if (options.MaxConnections is <= 0)
        {
            errors.Add($"{p}MaxConnections: {options.MaxConnections} must be positive, or removed for no limit.");
        }

        if (options.MaxRequestBodyBytes is < 0)
        {
            errors.Add($"{p}MaxRequestBodyBytes: {options.MaxRequestBodyBytes} must be zero or more, or removed for no limit.");
        }

        if (options.MaxRequestHeadersTotalBytes < 1024)
        {
            errors.Add($"{p}MaxRequestHeadersTotalBytes: {options.MaxRequestHeadersTotalBytes} is too small. Use at least 1024 (default 32768).");
        }

        if (options.MaxRequestHeaderCount < 1)
        {
            errors.Add($"{p}MaxRequestHeaderCount: {options.MaxRequestHeaderCount} must be at least 1 (default 100).");
        }

        if (options.MaxRequestLineBytes < 256)
        {
            errors.Add($"{p}MaxRequestLineBytes: {options.MaxRequestLineBytes} is too small. Use at least 256 (default 8192).");
        }

        if (options.RequestHeadersTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{p}RequestHeadersTimeout: {options.RequestHeadersTimeout} must be positive, e.g. \"00:00:30\".");
        }

        if (options.MinRequestBodyBytesPerSecond < 0 || double.IsNaN(options.MinRequestBodyBytesPerSecond))
        {
            errors.Add($"{p}MinRequestBodyBytesPerSecond: {options.MinRequestBodyBytesPerSecond} must be zero (no check) or more (default 240).");
        }

        if (options.MinRequestBodyBytesPerSecond > 0 && options.MinRequestBodyGracePeriod <= TimeSpan.FromSeconds(1))
        {
            errors.Add($"{p}MinRequestBodyGracePeriod: {options.MinRequestBodyGracePeriod} is too short. Use more than one second, e.g. \"00:00:05\".");
        }

        if (options.RequestBuffering is { } buffering)
        {
            if (buffering.MaxBytes <= 0)
            {
                errors.Add($"{p}RequestBuffering:MaxBytes: {buffering.MaxBytes} must be positive (default 1048576).");
            }

            if (buffering.MaxTotalBytes < buffering.MaxBytes)
            {
                errors.Add($"{p}RequestBuffering:MaxTotalBytes: {buffering.MaxTotalBytes} is below RequestBuffering:MaxBytes ({buffering.MaxBytes}). Allow at least one whole body (default 67108864).");
            }
        }

        if (options.KeepAliveTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{p}KeepAliveTimeout: {options.KeepAliveTimeout} must be positive, e.g. \"00:02:10\".");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckPort(List<string> errors, string key, int port)
    {
        if (port is < 0 or > 65535)
        {
            errors.Add($"{key}: {port} is not a TCP port. Use a number from 1 to 65535 (0 picks a free port).");
        }
    }

    private static void CheckAddress(List<string> errors, string key, string? address)
    {
        if (!IPAddress.TryParse(address, out _))
        {
            errors.Add($"{key}: \"{address}\" is not an IP address. Use e.g. 0.0.0.0 (every IPv4 interface), :: or 127.0.0.1.");
        }
    }
}
