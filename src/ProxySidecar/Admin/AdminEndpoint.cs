namespace ProxySidecar.Admin;

/// <summary>
/// One endpoint of the admin listener. Features register theirs in DI; the admin middleware
/// dispatches on method and exact path. Admin endpoints are never reachable on the public port.
/// </summary>
internal interface IAdminEndpoint
{
    string Method { get; }

    string Path { get; }

    Task HandleAsync(HttpContext context);
}

/// <summary>A section of the /status document, contributed by a feature (certificate, cache, Redis ...).</summary>
internal interface IStatusContributor
{
    /// <summary>The property name in the status JSON.</summary>
    string Name { get; }

    /// <summary>A snapshot, called on each /status request: a JsonNode, a type of the status JSON context, or null.</summary>
    object? GetStatus();
}

/// <summary>One top-level /status value a feature computes on each request.</summary>
internal sealed class StatusValue(string name, Func<object> value) : IStatusContributor
{
    public string Name => name;

    public object? GetStatus() => value();
}

/// <summary>A reason the sidecar is not ready. Degraded dependencies (such as a shared cache) must not register one.</summary>
internal interface IReadinessCheck
{
    /// <summary>Null when ready, otherwise why not.</summary>
    string? NotReadyReason();
}
