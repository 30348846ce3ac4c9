namespace ProxySidecar.Telemetry;

/// <summary>
/// The names every feature uses for its telemetry. Features create their own instruments from
/// <c>IMeterFactory.Create(SidecarTelemetry.MeterName)</c> (instrument names <c>proxysidecar.*</c>, units set)
/// and their spans from <see cref="ActivitySource"/>; the OpenTelemetry wiring subscribes to both names.
/// </summary>
internal static class SidecarTelemetry
{
    public const string MeterName = "ProxySidecar";

    public const string ActivitySourceName = "ProxySidecar";

    public static readonly System.Diagnostics.ActivitySource ActivitySource = new(ActivitySourceName);
}
