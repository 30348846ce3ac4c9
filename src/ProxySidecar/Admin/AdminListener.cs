using Microsoft.AspNetCore.Connections.Features;

namespace ProxySidecar.Admin;

/// <summary>
/// Which connections are the admin listener's: the listener marks each of its connections (Hosting sets the
/// marker), and everything that must tell admin requests apart asks here — by listener, never by Host header.
/// </summary>
internal static class AdminListener
{
    private const string Marker = "ProxySidecar.AdminListener";

    /// <summary>Marks a connection accepted by the admin listener.</summary>
    public static void Mark(IDictionary<object, object?> connectionItems) => connectionItems[Marker] = true;

    /// <summary>True for a request that arrived on the admin listener.</summary>
    public static bool IsAdmin(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(Marker) == true;
}
