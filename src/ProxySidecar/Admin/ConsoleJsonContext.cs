using System.Text.Json;
using System.Text.Json.Serialization;
using ProxySidecar.Caching;
using ProxySidecar.WarmUp;

namespace ProxySidecar.Admin;

/// <summary>The JSON of the operator's console endpoints (explain, warm-up), generated at compile time.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AdminError))]
[JsonSerializable(typeof(ExplainBody))]
[JsonSerializable(typeof(CacheExplanation))]
[JsonSerializable(typeof(WarmUpBody))]
[JsonSerializable(typeof(WarmUpSummary))]
internal sealed partial class ConsoleJsonContext : JsonSerializerContext;
