using System.Text.Json;
using System.Text.Json.Serialization;
using ProxySidecar.Caching.Stores;
using ProxySidecar.Configuration;
using ProxySidecar.Logging;
using ProxySidecar.Telemetry;
using ProxySidecar.Tls;

namespace ProxySidecar;

/// <summary>
/// The /status document's serialisation, generated at compile time (no reflection, so it works in a Native AOT
/// build). It sits beside the composition root because it names every feature's section type: every type an
/// <see cref="Admin.IStatusContributor"/> returns is listed here (JsonNode sections need none); a section whose type is missing
/// makes /status answer 500, which the status tests catch in the normal build.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(TelemetryStatusBody))]
[JsonSerializable(typeof(ClientCertificateStatusBody))]
[JsonSerializable(typeof(ConfigFileStatusSnapshot))]
[JsonSerializable(typeof(SharedCacheStatusBody))]
[JsonSerializable(typeof(AccessLogStatusBody))]
[JsonSerializable(typeof(TlsPolicyStatusBody))]
[JsonSerializable(typeof(ProxySidecar.Caching.CacheRulesStatusBody))]
[JsonSerializable(typeof(ProxySidecar.WarmUp.WarmUpStatusBody))]
[JsonSerializable(typeof(Hosting.RequestBufferingStatusBody))]
[JsonSerializable(typeof(Limits.LimitsStatusBody))]
// The cache section is a dictionary of plain values.
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(long[]))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
