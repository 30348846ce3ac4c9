using OpenTelemetry.Exporter;

namespace ProxySidecar.Telemetry;

/// <summary>One OpenTelemetry signal and the names of its variables.</summary>
internal enum TelemetrySignal
{
    Traces,
    Metrics,
    Logs,
}

/// <summary>
/// Which signals are exported over OTLP, read from the standard variables (through IConfiguration, so
/// environment, command line or appsettings all work). A signal is exported only when an endpoint is set
/// for it: <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or <c>OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT</c>; with neither,
/// nothing is exported. <c>OTEL_{SIGNAL}_EXPORTER=none</c> and <c>OTEL_SDK_DISABLED=true</c> switch export off.
/// </summary>
internal sealed class OtlpSettings
{
    public const string Endpoint = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string Protocol = "OTEL_EXPORTER_OTLP_PROTOCOL";
    public const string SdkDisabled = "OTEL_SDK_DISABLED";

    private readonly IConfiguration _configuration;

    private OtlpSettings(IConfiguration configuration, bool traces, bool metrics, bool logs)
    {
        _configuration = configuration;
        Traces = traces;
        Metrics = metrics;
        Logs = logs;
    }

    public bool Traces { get; }

    public bool Metrics { get; }

    public bool Logs { get; }

    public bool Any => Traces || Metrics || Logs;

    /// <summary>Reads and checks the variables; every problem is named with its fix.</summary>
    public static OtlpSettings Read(IConfiguration configuration)
    {
        var errors = new List<string>();
        Check(configuration, Endpoint, Protocol, errors);
        foreach (var signal in Enum.GetValues<TelemetrySignal>())
        {
            Check(configuration, SignalKey(signal, "ENDPOINT"), SignalKey(signal, "PROTOCOL"), errors);
        }

        if (errors.Count > 0)
        {
            throw new SidecarStartupException(string.Join(Environment.NewLine + "  - ", errors));
        }

        var disabled = string.Equals(configuration[SdkDisabled]?.Trim(), "true", StringComparison.OrdinalIgnoreCase);
        return new OtlpSettings(
            configuration,
            !disabled && IsExported(configuration, TelemetrySignal.Traces),
            !disabled && IsExported(configuration, TelemetrySignal.Metrics),
            !disabled && IsExported(configuration, TelemetrySignal.Logs));
    }

    /// <summary>
    /// Applies the signal-specific variables the OTLP exporter's <c>AddOtlpExporter</c> does not read
    /// (<c>OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT</c>, <c>_PROTOCOL</c>, <c>_HEADERS</c>, <c>_TIMEOUT</c>); the
    /// general ones are read by the exporter itself.
    /// </summary>
    public void ApplySignalOverrides(TelemetrySignal signal, OtlpExporterOptions options)
    {
        if (NonEmpty(_configuration[SignalKey(signal, "PROTOCOL")]) is { } protocol)
        {
            options.Protocol = ParseProtocol(protocol)!.Value;
        }

        // A signal-specific endpoint is used as given (the spec: no /v1/{signal} is appended).
        if (NonEmpty(_configuration[SignalKey(signal, "ENDPOINT")]) is { } endpoint)
        {
            options.Endpoint = new Uri(endpoint, UriKind.Absolute);
        }

        if (NonEmpty(_configuration[SignalKey(signal, "HEADERS")]) is { } headers)
        {
            options.Headers = headers;
        }

        if (NonEmpty(_configuration[SignalKey(signal, "TIMEOUT")]) is { } timeout
            && int.TryParse(timeout, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var milliseconds)
            && milliseconds > 0)
        {
            options.TimeoutMilliseconds = milliseconds;
        }
    }

    internal static string SignalKey(TelemetrySignal signal, string suffix) =>
        $"OTEL_EXPORTER_OTLP_{SignalName(signal)}_{suffix}";

    private static string SignalName(TelemetrySignal signal) => signal switch
    {
        TelemetrySignal.Traces => "TRACES",
        TelemetrySignal.Metrics => "METRICS",
        _ => "LOGS",
    };

    private static bool IsExported(IConfiguration configuration, TelemetrySignal signal)
    {
        // OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER: a list; "none" or a list without otlp switches OTLP off.
        if (NonEmpty(configuration[$"OTEL_{SignalName(signal)}_EXPORTER"]) is { } exporters
            && !exporters.Split(',', StringSplitOptions.TrimEntries).Contains("otlp", StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }

        return NonEmpty(configuration[SignalKey(signal, "ENDPOINT")]) is not null || NonEmpty(configuration[Endpoint]) is not null;
    }

    private static void Check(IConfiguration configuration, string endpointKey, string protocolKey, List<string> errors)
    {
        if (NonEmpty(configuration[endpointKey]) is { } endpoint
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{endpointKey}: \"{endpoint}\" is not an http:// or https:// URL. Use the collector's address, e.g. http://otel-collector:4317 (grpc) or http://otel-collector:4318 (http/protobuf), or remove it to export nothing.");
        }

        if (NonEmpty(configuration[protocolKey]) is { } protocol && ParseProtocol(protocol) is null)
        {
            errors.Add($"{protocolKey}: \"{protocol}\" is not supported. Use grpc or http/protobuf.");
        }
    }

    private static OtlpExportProtocol? ParseProtocol(string value) => value.Trim().ToLowerInvariant() switch
    {
        "grpc" => OtlpExportProtocol.Grpc,
        "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
        _ => null,
    };

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
