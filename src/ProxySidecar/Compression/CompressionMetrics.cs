using System.Diagnostics.Metrics;
using ProxySidecar.Telemetry;

namespace ProxySidecar.Compression;

/// <summary>
/// Compression's instruments. The work done (encoder runs, bytes in and out) is counted apart from the responses sent
/// compressed, so that "compressed once, served many times" shows: a stored representation is one encoder run and any
/// number of <c>source=stored</c> responses.
/// </summary>
internal sealed class CompressionMetrics
{
    private static readonly KeyValuePair<string, object?>[][] Tags =
    [
        Pair(ContentCoding.Gzip, "stored"), Pair(ContentCoding.Gzip, "streamed"),
        Pair(ContentCoding.Brotli, "stored"), Pair(ContentCoding.Brotli, "streamed"),
    ];

    private readonly Counter<long> _responses;
    private readonly Counter<long> _encodes;
    private readonly Counter<long> _input;
    private readonly Counter<long> _output;
    private long _storedEncodes;
    private long _streamedEncodes;
    private long _storedResponses;

    public CompressionMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(SidecarTelemetry.MeterName);
        _responses = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CompressionResponses, "{response}", "Responses sent compressed, by coding and by where the compressed bytes came from (stored by the cache, or compressed as they streamed).");
        _encodes = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CompressionEncodes, "{encode}", "Encoder runs: a stored entry compressed for the cache (once per entry and coding), or one response compressed as it streamed.");
        _input = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CompressionInputBytes, "By", "Bytes given to the encoders.");
        _output = meter.CreateCounter<long>(SidecarTelemetry.Instruments.CompressionOutputBytes, "By", "Bytes the encoders produced.");
    }

    /// <summary>Stored entries compressed for the cache so far (every coding).</summary>
    public long StoredEncodes => Interlocked.Read(ref _storedEncodes);

    /// <summary>Responses compressed as they streamed so far.</summary>
    public long StreamedEncodes => Interlocked.Read(ref _streamedEncodes);

    /// <summary>Responses served from a stored compressed representation so far.</summary>
    public long StoredResponses => Interlocked.Read(ref _storedResponses);

    /// <summary>A representation of a stored entry was made: <paramref name="input"/> bytes in, <paramref name="output"/> out.</summary>
    public void Encoded(ContentCoding coding, bool stored, long input, long output)
    {
        Interlocked.Increment(ref stored ? ref _storedEncodes : ref _streamedEncodes);
        var tags = For(coding, stored);
        _encodes.Add(1, tags);
        _input.Add(input, tags);
        _output.Add(output, tags);
    }

    public void Served(ContentCoding coding, bool stored)
    {
        if (stored)
        {
            Interlocked.Increment(ref _storedResponses);
        }

        _responses.Add(1, For(coding, stored));
    }

    private static ReadOnlySpan<KeyValuePair<string, object?>> For(ContentCoding coding, bool stored) =>
        Tags[((coding == ContentCoding.Brotli ? 1 : 0) * 2) + (stored ? 0 : 1)];

    private static KeyValuePair<string, object?>[] Pair(ContentCoding coding, string source) =>
        [new("encoding", coding.Name()), new("source", source)];
}
