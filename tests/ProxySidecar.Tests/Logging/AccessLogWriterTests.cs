using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using ProxySidecar.Logging;

namespace ProxySidecar.Tests.Logging;

/// <summary>
/// The access log's own writer: the JSON line shape every other log line has, whole lines in writes small
/// enough to stay atomic on a pipe, and a bounded queue that drops (and counts) rather than grows.
/// </summary>
public sealed class AccessLogWriterTests
{
    private static readonly ActivityTraceId TraceId = ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c");
    private static readonly ActivitySpanId SpanId = ActivitySpanId.CreateFromString("b7ad6b7169203331");

    [Fact]
    public void Format_Entry_IsOneJsonLineInTheConsoleLogShape()
    {
        var line = FormatToString(Entry("/items/1", IPAddress.Parse("10.1.2.3"), TraceId, SpanId));

        Assert.EndsWith("\n", line, StringComparison.Ordinal);
        Assert.Single(line.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        Assert.Equal("2026-11-26T06:19:03.512Z", root.GetProperty("Timestamp").GetString());
        Assert.Equal(1, root.GetProperty("EventId").GetInt32());
        Assert.Equal("Information", root.GetProperty("LogLevel").GetString());
        Assert.Equal("ProxySidecar.AccessLog", root.GetProperty("Category").GetString());
        Assert.Equal("GET /items/1 HTTP/2 200 3.214ms 512B cache=hit client=10.1.2.3", root.GetProperty("Message").GetString());
        var state = root.GetProperty("State");
        Assert.Equal("GET", state.GetProperty("Method").GetString());
        Assert.Equal("/items/1", state.GetProperty("Path").GetString());
        Assert.Equal("HTTP/2", state.GetProperty("Protocol").GetString());
        Assert.Equal(200, state.GetProperty("Status").GetInt32());
        Assert.Equal(3.214, state.GetProperty("DurationMs").GetDouble());
        Assert.Equal(512, state.GetProperty("Bytes").GetInt64());
        Assert.Equal("hit", state.GetProperty("CacheResult").GetString());
        Assert.Equal("10.1.2.3", state.GetProperty("Client").GetString());
        var scopes = root.GetProperty("Scopes").EnumerateArray().ToList();
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", scopes[0].GetProperty("TraceId").GetString());
        Assert.Equal("b7ad6b7169203331", scopes[0].GetProperty("SpanId").GetString());
        Assert.Equal("0HNQBEJ50OAFD", scopes[1].GetProperty("ConnectionId").GetString());
        Assert.Equal("0HNQBEJ50OAFD:00000001", scopes[2].GetProperty("RequestId").GetString());
    }

    /// <summary>
    /// The formatter writes what Utf8JsonWriter (the console logger's writer, default encoder) writes for the same
    /// shape, byte for byte: plain paths, every character the encoder escapes, non-ASCII, long paths, odd numbers.
    /// </summary>
    [Theory]
    [InlineData("/items/1")]
    [InlineData("/")]
    [InlineData("/a\"b\\c\u0001d\u001f\u007f")]
    [InlineData("/html/<script>&'+`x`</script>")]
    [InlineData("/a<b")]
    [InlineData("/a>b")]
    [InlineData("/a&b")]
    [InlineData("/a'b")]
    [InlineData("/a+b")]
    [InlineData("/a`b")]
    [InlineData("/a\u007fb")]
    [InlineData("/a\u00a0b")]
    [InlineData("/caf\u00e9/\u65e5\u672c/\ud83d\ude00/\u2028\u2029")]
    [InlineData("/q?a=1&b=%20c d~_-.!$()*,;=:@")]
    [InlineData("/lone/\ud800/end")]
    public void Format_IsByteForByteWhatUtf8JsonWriterWrites(string path)
    {
        var durations = new[] { 0.0, 0.001, 0.5, 3.214, 12.07, 1234.567, 98765432.1, 1e-7 };
        var clients = new IPAddress?[] { IPAddress.Parse("10.1.2.3"), IPAddress.IPv6Loopback, IPAddress.Parse("fe80::1%3"), IPAddress.Parse("::ffff:10.0.0.1"), null };
        var i = 0;
        foreach (var duration in durations)
        {
            foreach (var client in clients)
            {
                var traced = i++ % 2 == 0;
                var entry = new AccessLogEntry(
                    new DateTimeOffset(2026, 1 + (i % 12), 1 + (i % 28), i % 24, i % 60, (i * 7) % 60, (i * 37) % 1000, TimeSpan.Zero),
                    i % 3 == 0 ? "PROPFIND" : "GET",
                    i % 5 == 0 ? path + new string('x', 3000) : path,
                    i % 2 == 0 ? "HTTP/1.1" : "HTTP/2",
                    i % 4 == 0 ? 499 : 200,
                    duration,
                    i % 3 == 0 ? long.MaxValue : i * 1000L,
                    i % 2 == 0 ? "hit" : "none",
                    client,
                    traced ? TraceId : default,
                    traced ? SpanId : default,
                    "0HNQBEJ50OAFD",
                    "0HNQBEJ50OAFD:0000000" + (i % 10));

                var output = new ArrayBufferWriter<byte>();
                AccessLogFormat.Format(entry, output);

                Assert.Equal(Encoding.UTF8.GetString(ReferenceFormat(entry)), Encoding.UTF8.GetString(output.WrittenSpan));
            }
        }
    }

    /// <summary>
    /// Every string at its longest escaped form (6 bytes a character), the ones written twice or three times
    /// included, and the widest numbers and client address: the line still fits the buffer it asked for.
    /// </summary>
    [Fact]
    public void Format_LongestEscapedStringsAndWidestNumbers_FitAndMatchUtf8JsonWriter()
    {
        var entry = new AccessLogEntry(
            DateTimeOffset.MaxValue,
            new string('<', 3000),
            "/" + new string('\u00e9', 5000),
            new string('+', 2000),
            int.MinValue,
            -1.7976931348623157E+308,
            long.MinValue,
            new string('&', 2000),
            IPAddress.Parse("fe80:1234:5678:9abc:def0:1234:5678:9abc%4294967295"),
            TraceId,
            SpanId,
            new string('\'', 500),
            new string('"', 500));
        var output = new ExactBufferWriter();

        AccessLogFormat.Format(entry, output);

        Assert.Equal(Encoding.UTF8.GetString(ReferenceFormat(entry)), Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void Format_PathWithQuotesAndControlCharacters_IsEscapedJson()
    {
        var line = FormatToString(Entry("/a\"b\\c\u0001d", client: null, traceId: default, spanId: default));

        using var document = JsonDocument.Parse(line);
        Assert.Equal("/a\"b\\c\u0001d", document.RootElement.GetProperty("State").GetProperty("Path").GetString());
        Assert.Equal("-", document.RootElement.GetProperty("State").GetProperty("Client").GetString());
        Assert.DoesNotContain(
            document.RootElement.GetProperty("Scopes").EnumerateArray(),
            scope => scope.TryGetProperty("TraceId", out _));
    }

    [Fact]
    public void Write_ManyLines_WrittenAsWholeLinesInWritesOfAtMostPipeBuf()
    {
        var sink = new RecordingSink();
        const int lines = 300;
        using (var writer = new AccessLogWriter(sink, inUse: true))
        {
            for (var i = 0; i < lines; i++)
            {
                writer.Write(Entry($"/line/{i}", IPAddress.Loopback, TraceId, SpanId));
            }
        }

        Assert.NotEmpty(sink.Writes);
        Assert.All(sink.Writes, write =>
        {
            Assert.InRange(write.Length, 1, AccessLogWriter.MaxWrite);
            Assert.Equal((byte)'\n', write[^1]);
        });
        var all = sink.Writes.SelectMany(w => Encoding.UTF8.GetString(w).Split('\n', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Equal(Enumerable.Range(0, lines).Select(i => $"/line/{i}"), all.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("State").GetProperty("Path").GetString()));
    }

    [Fact]
    public void Write_StdoutBlocked_DropsAndCountsInsteadOfQueueingWithoutBound()
    {
        var sink = new RecordingSink { Gate = new ManualResetEventSlim(false) };
        var total = AccessLogWriter.Capacity + 500;
        var writer = new AccessLogWriter(sink, inUse: true);
        try
        {
            writer.Write(Entry("/first", IPAddress.Loopback, TraceId, SpanId));
            Assert.True(sink.Entered.Wait(TimeSpan.FromSeconds(10)), "The writer thread never wrote.");
            for (var i = 1; i < total; i++)
            {
                writer.Write(Entry($"/line/{i}", IPAddress.Loopback, TraceId, SpanId));
            }

            // The thread holds the first line in its blocked write; the queue takes Capacity more; the rest is dropped.
            Assert.Equal(499, writer.Dropped);
        }
        finally
        {
            sink.Gate.Set();
            writer.Dispose();
        }

        SpinWait.SpinUntil(() => writer.Written + writer.Dropped == total, TimeSpan.FromSeconds(20));
        Assert.Equal(total, writer.Written + writer.Dropped);
        Assert.Equal(writer.Written, sink.Writes.Sum(w => w.Count(b => b == (byte)'\n')));
    }

    [Fact]
    public void Write_AfterDispose_IsDroppedNotThrown()
    {
        var sink = new RecordingSink();
        var writer = new AccessLogWriter(sink, inUse: true);
        writer.Dispose();

        writer.Write(Entry("/late", IPAddress.Loopback, TraceId, SpanId));

        Assert.Equal(1, writer.Dropped);
        Assert.Empty(sink.Writes);
    }

    private static AccessLogEntry Entry(string path, IPAddress? client, ActivityTraceId traceId, ActivitySpanId spanId) => new(
        new DateTimeOffset(2026, 11, 26, 6, 19, 3, 512, TimeSpan.Zero),
        "GET",
        path,
        "HTTP/2",
        200,
        3.214,
        512,
        "hit",
        client,
        traceId,
        spanId,
        "0HNQBEJ50OAFD",
        "0HNQBEJ50OAFD:00000001");

    private static string FormatToString(AccessLogEntry entry)
    {
        var output = new ArrayBufferWriter<byte>();
        AccessLogFormat.Format(entry, output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    /// <summary>The line as Utf8JsonWriter writes it: the reference the formatter must match.</summary>
    private static byte[] ReferenceFormat(in AccessLogEntry entry)
    {
        var output = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(output))
        {
            json.WriteStartObject();
            json.WriteString("Timestamp", entry.Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            json.WriteNumber("EventId", 1);
            json.WriteString("LogLevel", "Information");
            json.WriteString("Category", "ProxySidecar.AccessLog");
            var client = entry.Client?.ToString() ?? "-";
            json.WriteString("Message", string.Create(
                CultureInfo.InvariantCulture,
                $"{entry.Method} {entry.Path} {entry.Protocol} {entry.Status} {entry.DurationMs}ms {entry.Bytes}B cache={entry.CacheResult} client={client}"));
            json.WriteStartObject("State");
            json.WriteString("Method", entry.Method);
            json.WriteString("Path", entry.Path);
            json.WriteString("Protocol", entry.Protocol);
            json.WriteNumber("Status", entry.Status);
            json.WriteNumber("DurationMs", entry.DurationMs);
            json.WriteNumber("Bytes", entry.Bytes);
            json.WriteString("CacheResult", entry.CacheResult);
            json.WriteString("Client", client);
            json.WriteEndObject();
            json.WriteStartArray("Scopes");
            if (entry.TraceId != default)
            {
                json.WriteStartObject();
                json.WriteString("SpanId", entry.SpanId.ToHexString());
                json.WriteString("TraceId", entry.TraceId.ToHexString());
                json.WriteEndObject();
            }

            json.WriteStartObject();
            json.WriteString("ConnectionId", entry.ConnectionId);
            json.WriteEndObject();
            json.WriteStartObject();
            json.WriteString("RequestPath", entry.Path);
            json.WriteString("RequestId", entry.RequestId);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        output.Write("\n"u8);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Hands out exactly the size asked for, so that a line longer than its size hint fails instead of fitting by luck.</summary>
    private sealed class ExactBufferWriter : IBufferWriter<byte>
    {
        private byte[] _buffer = [];
        private int _written;

        public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _written);

        public void Advance(int count) => _written += count;

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            Array.Resize(ref _buffer, _written + Math.Max(sizeHint, 1));
            return _buffer.AsMemory(_written);
        }

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }

    private sealed class RecordingSink : IAccessLogSink
    {
        private readonly ConcurrentQueue<byte[]> _writes = new();

        public ManualResetEventSlim? Gate { get; init; }

        public ManualResetEventSlim Entered { get; } = new(false);

        public IReadOnlyList<byte[]> Writes => _writes.ToArray();

        public void Write(ReadOnlySpan<byte> lines)
        {
            Entered.Set();
            Gate?.Wait(TimeSpan.FromSeconds(30));
            _writes.Enqueue(lines.ToArray());
        }
    }
}
