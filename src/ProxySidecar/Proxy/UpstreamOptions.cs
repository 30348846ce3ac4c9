using Microsoft.Extensions.Options;

namespace ProxySidecar.Proxy;

/// <summary>The app behind the sidecar (the short form of the YARP configuration).</summary>
public sealed class UpstreamOptions
{
    public const string Section = "Sidecar:Upstream";

    /// <summary>The app's address, http:// over loopback in a pod.</summary>
    public string Address { get; set; } = "http://127.0.0.1:8080";

    /// <summary>How long to wait for a TCP connection to the app (502 after it).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the app may stay silent (no response headers, no body bytes) before 504.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Protocol to the app: Http1 (keep-alive HTTP/1.1) or Http2 (h2c with prior knowledge, for gRPC apps).</summary>
    public UpstreamProtocol Protocol { get; set; } = UpstreamProtocol.Http1;

    /// <summary>Maximum connections to the app; null is unlimited.</summary>
    public int? MaxConnections { get; set; }

    /// <summary>How often readiness checks that the app accepts connections.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Optional path probed with GET (any answer below 500 counts as up). Without it the probe is a TCP connect.
    /// </summary>
    public string? ProbePath { get; set; }

    /// <summary>
    /// Remove from requests the headers with which a client can make an app or its framework read another URL,
    /// method or host than the one the cache keys on (<see cref="ForwardingTransforms.OverrideRequestHeaders"/>).
    /// </summary>
    public bool StripOverrideHeaders { get; set; } = true;

    /// <summary>More request header names removed before the request reaches the app.</summary>
    public IList<string> StripRequestHeaders { get; } = [];
}

public enum UpstreamProtocol
{
    Http1,
    Http2,
}

internal sealed class UpstreamOptionsValidator : IValidateOptions<UpstreamOptions>
{
    public ValidateOptionsResult Validate(string? name, UpstreamOptions options)
    {
        var errors = new List<string>();
        const string p = UpstreamOptions.Section + ":";
        if (!Uri.TryCreate(options.Address, UriKind.Absolute, out var address)
            || (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(address.Host))
        {
            errors.Add($"{p}Address: \"{options.Address}\" is not an http:// or https:// URL. Use the app's address, e.g. http://127.0.0.1:8080.");
        }
        else if (address.AbsolutePath != "/" || !string.IsNullOrEmpty(address.Query))
        {
            errors.Add($"{p}Address: \"{options.Address}\" has a path or query. Give only scheme, host and port, e.g. http://127.0.0.1:8080; requests keep their own path.");
        }

        if (options.ConnectTimeout <= TimeSpan.Zero || options.ConnectTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{p}ConnectTimeout: {options.ConnectTimeout} is out of range. Use a time span above zero and at most 00:05:00 (default 00:00:05).");
        }

        if (options.ResponseTimeout <= TimeSpan.Zero || options.ResponseTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"{p}ResponseTimeout: {options.ResponseTimeout} is out of range. Use a time span above zero and at most 01:00:00 (default 00:01:00).");
        }

        if (!Enum.IsDefined(options.Protocol))
        {
            errors.Add($"{p}Protocol: {options.Protocol} is unknown. Use Http1 or Http2.");
        }

        if (options.MaxConnections is <= 0)
        {
            errors.Add($"{p}MaxConnections: {options.MaxConnections} must be positive, or removed for no limit.");
        }

        if (options.ProbeInterval < TimeSpan.FromMilliseconds(100))
        {
            errors.Add($"{p}ProbeInterval: {options.ProbeInterval} is too short. Use at least 00:00:00.1 (default 00:00:05).");
        }

        if (options.ProbePath is { Length: > 0 } probePath && !probePath.StartsWith('/'))
        {
            errors.Add($"{p}ProbePath: \"{probePath}\" must start with '/', e.g. /healthz.");
        }

        for (var i = 0; i < options.StripRequestHeaders.Count; i++)
        {
            if (!Caching.CacheOptionsValidator.IsToken(options.StripRequestHeaders[i]?.Trim() ?? string.Empty))
            {
                errors.Add($"{p}StripRequestHeaders:{i}: \"{options.StripRequestHeaders[i]}\" is not a header name. Use e.g. X-Debug-User.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
