using System.Globalization;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace ProxySidecar.Telemetry;

/// <summary>
/// Pull exporter: each scrape calls <see cref="Collect"/> (set by its reader), which hands the current
/// cumulative values to <see cref="Export"/> on the same thread; they are written as Prometheus text 0.0.4.
/// </summary>
[ExportModes(ExportModes.Pull)]
internal sealed class PrometheusTextExporter : BaseExporter<Metric>, IPullMetricExporter
{
    /// <summary>Set by the reader; runs a collection in a pull scope (a plain reader Collect is refused for pull-only exporters).</summary>
    public Func<int, bool>? Collect { get; set; }

    /// <summary>Where the next <see cref="Export"/> writes; set by the scraper under its lock.</summary>
    internal StringBuilder? Target { get; set; }

    public override ExportResult Export(in Batch<Metric> batch)
    {
        if (Target is not { } target)
        {
            return ExportResult.Failure;
        }

        var written = new HashSet<string>(StringComparer.Ordinal);
        foreach (var metric in batch)
        {
            PrometheusText.Write(target, metric, written);
        }

        return ExportResult.Success;
    }
}

/// <summary>
/// OpenTelemetry metric → Prometheus text: dots become underscores, the unit adds a suffix (s → _seconds,
/// ms → _milliseconds, By → _bytes; "1" and {annotations} add none), monotonic sums get _total, histograms
/// get _bucket{le}/_sum/_count, and tags become labels.
/// </summary>
internal static class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static void Write(StringBuilder output, Metric metric, HashSet<string> written)
    {
        var type = metric.MetricType;
        var (prometheusType, isCounter) = type switch
        {
            MetricType.LongSum or MetricType.DoubleSum => ("counter", true),
            MetricType.LongGauge or MetricType.DoubleGauge or MetricType.LongSumNonMonotonic or MetricType.DoubleSumNonMonotonic => ("gauge", false),
            MetricType.Histogram => ("histogram", false),
            _ => (null, false),
        };
        if (prometheusType is null)
        {
            return; // exponential histograms are not configured here
        }

        var name = MetricName(metric.Name, metric.Unit, isCounter);
        if (written.Add(name))
        {
            if (!string.IsNullOrEmpty(metric.Description))
            {
                output.Append("# HELP ").Append(name).Append(' ');
                AppendEscaped(output, metric.Description, quoted: false);
                output.Append('\n');
            }

            output.Append("# TYPE ").Append(name).Append(' ').Append(prometheusType).Append('\n');
        }

        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            var labels = Labels(point.Tags);
            switch (type)
            {
                case MetricType.LongSum or MetricType.LongSumNonMonotonic:
                    Sample(output, name, labels, null, point.GetSumLong());
                    break;
                case MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic:
                    Sample(output, name, labels, null, point.GetSumDouble());
                    break;
                case MetricType.LongGauge:
                    Sample(output, name, labels, null, point.GetGaugeLastValueLong());
                    break;
                case MetricType.DoubleGauge:
                    Sample(output, name, labels, null, point.GetGaugeLastValueDouble());
                    break;
                case MetricType.Histogram:
                    long cumulative = 0;
                    foreach (var bucket in point.GetHistogramBuckets())
                    {
                        cumulative += bucket.BucketCount;
                        Sample(output, name + "_bucket", labels, Number(bucket.ExplicitBound), cumulative);
                    }

                    Sample(output, name + "_sum", labels, null, point.GetHistogramSum());
                    Sample(output, name + "_count", labels, null, point.GetHistogramCount());
                    break;
            }
        }
    }

    /// <summary>The Prometheus name of an OpenTelemetry instrument.</summary>
    public static string MetricName(string name, string? unit, bool counter)
    {
        var builder = new StringBuilder(name.Length + 16);
        AppendSanitized(builder, name);
        var suffix = UnitSuffix(unit);
        if (suffix.Length > 0 && !EndsWithWord(builder, suffix))
        {
            builder.Append('_').Append(suffix);
        }

        if (counter && !EndsWithWord(builder, "total"))
        {
            builder.Append("_total");
        }

        return builder.ToString();
    }

    private static string UnitSuffix(string? unit) => unit switch
    {
        null or "" or "1" => string.Empty,
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "%" => "percent",
        _ when unit.StartsWith('{') => string.Empty,
        _ => Sanitize(unit),
    };

    private static bool EndsWithWord(StringBuilder name, string word) =>
        name.Length > word.Length
        && name[name.Length - word.Length - 1] == '_'
        && name.ToString(name.Length - word.Length, word.Length) == word;

    private static string Sanitize(string value)
    {
        var builder = new StringBuilder(value.Length);
        AppendSanitized(builder, value);
        return builder.ToString();
    }

    private static void AppendSanitized(StringBuilder output, string value)
    {
        if (value.Length > 0 && char.IsAsciiDigit(value[0]))
        {
            output.Append('_');
        }

        foreach (var c in value)
        {
            output.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
        }
    }

    /// <summary>Booleans as true/false (as OpenTelemetry writes them, e.g. otel_metric_overflow="true"), the rest invariant.</summary>
    internal static string LabelValue(object? value) => value switch
    {
        bool b => b ? "true" : "false",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty,
    };

    private static string Labels(ReadOnlyTagCollection tags)
    {
        if (tags.Count == 0)
        {
            return string.Empty;
        }

        var builder = new StringBuilder();
        foreach (var tag in tags)
        {
            builder.Append(builder.Length == 0 ? "" : ",");
            AppendSanitized(builder, tag.Key);
            builder.Append("=\"");
            AppendEscaped(builder, LabelValue(tag.Value), quoted: true);
            builder.Append('"');
        }

        return builder.ToString();
    }

    private static void Sample(StringBuilder output, string name, string labels, string? le, double value) =>
        Start(output, name, labels, le).Append(Number(value)).Append('\n');

    private static void Sample(StringBuilder output, string name, string labels, string? le, long value) =>
        Start(output, name, labels, le).Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    private static StringBuilder Start(StringBuilder output, string name, string labels, string? le)
    {
        output.Append(name);
        if (labels.Length > 0 || le is not null)
        {
            output.Append('{').Append(labels);
            if (le is not null)
            {
                output.Append(labels.Length > 0 ? ",le=\"" : "le=\"").Append(le).Append('"');
            }

            output.Append('}');
        }

        return output.Append(' ');
    }

    private static string Number(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ when double.IsNaN(value) => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static void AppendEscaped(StringBuilder output, string value, bool quoted)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '"' when quoted:
                    output.Append("\\\"");
                    break;
                default:
                    output.Append(c);
                    break;
            }
        }
    }
}
