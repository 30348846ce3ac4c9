using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;

namespace ProxySidecar.Logging;

/// <summary>One access-log line's values, captured on the request path and formatted off it.</summary>
internal readonly record struct AccessLogEntry(
    DateTimeOffset Timestamp,
    string Method,
    string Path,
    string Protocol,
    int Status,
    double DurationMs,
    long Bytes,
    string CacheResult,
    IPAddress? Client,
    ActivityTraceId TraceId,
    ActivitySpanId SpanId,
    string ConnectionId,
    string RequestId);

/// <summary>Where the formatted lines go: stdout in the process, something else in tests.</summary>
internal interface IAccessLogSink
{
    /// <summary>Writes whole lines (each ending in '\n'); called from one thread at a time.</summary>
    void Write(ReadOnlySpan<byte> lines);
}

/// <summary>Writes to the process's stdout, the same stream the JSON console logs go to.</summary>
internal sealed class StdoutAccessLogSink : IAccessLogSink, IDisposable
{
    private readonly Stream _stdout = Console.OpenStandardOutput();

    public void Write(ReadOnlySpan<byte> lines) => _stdout.Write(lines);

    public void Dispose() => _stdout.Dispose();
}

/// <summary>
/// The access log's own writer. The request only queues its values (no formatting, no lock, no I/O); one
/// thread formats them with <see cref="Utf8JsonWriter"/> into the same JSON line shape as every other log
/// line and writes them in batches of whole lines, each write at most <see cref="MaxWrite"/> bytes so that
/// on a pipe it is atomic and never splits another writer's line. The queue is bounded: when stdout cannot
/// keep up, lines are dropped and counted rather than slowing requests down or growing memory.
/// </summary>
internal sealed class AccessLogWriter : IDisposable
{
    public const string Category = "ProxySidecar.AccessLog";

    /// <summary>PIPE_BUF on Linux: a write of up to this many bytes to a pipe is not interleaved with others.</summary>
    internal const int MaxWrite = 4096;

    internal const int Capacity = 8192;
    private static readonly JsonEncodedText TimestampName = JsonEncodedText.Encode("Timestamp");
    private static readonly JsonEncodedText EventIdName = JsonEncodedText.Encode("EventId");
    private static readonly JsonEncodedText LogLevelName = JsonEncodedText.Encode("LogLevel");
    private static readonly JsonEncodedText CategoryName = JsonEncodedText.Encode("Category");
    private static readonly JsonEncodedText MessageName = JsonEncodedText.Encode("Message");
    private static readonly JsonEncodedText StateName = JsonEncodedText.Encode("State");
    private static readonly JsonEncodedText ScopesName = JsonEncodedText.Encode("Scopes");
    private static readonly JsonEncodedText MethodName = JsonEncodedText.Encode("Method");
    private static readonly JsonEncodedText PathName = JsonEncodedText.Encode("Path");
    private static readonly JsonEncodedText ProtocolName = JsonEncodedText.Encode("Protocol");
    private static readonly JsonEncodedText StatusName = JsonEncodedText.Encode("Status");
    private static readonly JsonEncodedText DurationName = JsonEncodedText.Encode("DurationMs");
    private static readonly JsonEncodedText BytesName = JsonEncodedText.Encode("Bytes");
    private static readonly JsonEncodedText CacheResultName = JsonEncodedText.Encode("CacheResult");
    private static readonly JsonEncodedText ClientName = JsonEncodedText.Encode("Client");
    private static readonly JsonEncodedText SpanIdName = JsonEncodedText.Encode("SpanId");
    private static readonly JsonEncodedText TraceIdName = JsonEncodedText.Encode("TraceId");
    private static readonly JsonEncodedText ConnectionIdName = JsonEncodedText.Encode("ConnectionId");
    private static readonly JsonEncodedText RequestPathName = JsonEncodedText.Encode("RequestPath");
    private static readonly JsonEncodedText RequestIdName = JsonEncodedText.Encode("RequestId");
    private static readonly JsonEncodedText InformationValue = JsonEncodedText.Encode("Information");
    private static readonly JsonEncodedText CategoryValue = JsonEncodedText.Encode(Category);

    private readonly IAccessLogSink _sink;
    private readonly Channel<AccessLogEntry> _queue = Channel.CreateBounded<AccessLogEntry>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });

    private readonly Thread? _thread;
    private long _written;
    private long _dropped;

    /// <summary>Used only when every log destination is the console (otherwise the access log goes through logging).</summary>
    public AccessLogWriter(IAccessLogSink sink, IEnumerable<ILoggerProvider> providers)
        : this(sink, providers.All(p => p is Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider))
    {
    }

    internal AccessLogWriter(IAccessLogSink sink, bool inUse)
    {
        _sink = sink;
        InUse = inUse;
        if (inUse)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "access log" };
            _thread.Start();
        }
    }

    /// <summary>True when access-log lines are written here; false when they go through the logging pipeline.</summary>
    public bool InUse { get; }

    /// <summary>Lines the sink has taken so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Lines dropped: the queue was full (stdout too slow), the writer had stopped, or stdout failed.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Write(in AccessLogEntry entry)
    {
        Debug.Assert(InUse, "Only called when the writer is in use.");
        // With FullMode Wait, TryWrite never waits: it answers false when the queue is full (or completed).
        if (!_queue.Writer.TryWrite(entry))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Stops taking lines, writes what is queued (waiting at most two seconds) and stops the thread.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _thread?.Join(TimeSpan.FromSeconds(2));
    }

    /// <summary>Formats one entry as a JSON line (with its trailing newline).</summary>
    internal static void Format(in AccessLogEntry entry, Utf8JsonWriter json, IBufferWriter<byte> output)
    {
        Span<char> text = stackalloc char[64];
        json.WriteStartObject();
        entry.Timestamp.UtcDateTime.TryFormat(text, out var length, "yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
        json.WriteString(TimestampName, text[..length]);
        json.WriteNumber(EventIdName, 1);
        json.WriteString(LogLevelName, InformationValue);
        json.WriteString(CategoryName, CategoryValue);
        WriteMessage(entry, json);
        json.WriteStartObject(StateName);
        json.WriteString(MethodName, entry.Method);
        json.WriteString(PathName, entry.Path);
        json.WriteString(ProtocolName, entry.Protocol);
        json.WriteNumber(StatusName, entry.Status);
        json.WriteNumber(DurationName, entry.DurationMs);
        json.WriteNumber(BytesName, entry.Bytes);
        json.WriteString(CacheResultName, entry.CacheResult);
        json.WriteString(ClientName, entry.Client is { } client && client.TryFormat(text, out var written) ? text[..written] : "-");
        json.WriteEndObject();
        json.WriteStartArray(ScopesName);
        if (entry.TraceId != default)
        {
            json.WriteStartObject();
            json.WriteString(SpanIdName, entry.SpanId.ToHexString());
            json.WriteString(TraceIdName, entry.TraceId.ToHexString());
            json.WriteEndObject();
        }

        json.WriteStartObject();
        json.WriteString(ConnectionIdName, entry.ConnectionId);
        json.WriteEndObject();
        json.WriteStartObject();
        json.WriteString(RequestPathName, entry.Path);
        json.WriteString(RequestIdName, entry.RequestId);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        json.Flush();
        output.Write("\n"u8);
    }

    /// <summary>"{Method} {Path} {Protocol} {Status} {DurationMs}ms {Bytes}B cache={CacheResult} client={Client}".</summary>
    private static void WriteMessage(in AccessLogEntry entry, Utf8JsonWriter json)
    {
        var length = entry.Method.Length + entry.Path.Length + entry.Protocol.Length + entry.CacheResult.Length + 128;
        var rented = ArrayPool<char>.Shared.Rent(length);
        try
        {
            var message = rented.AsSpan();
            var at = 0;
            Append(message, ref at, entry.Method);
            Append(message, ref at, " ");
            Append(message, ref at, entry.Path);
            Append(message, ref at, " ");
            Append(message, ref at, entry.Protocol);
            Append(message, ref at, " ");
            entry.Status.TryFormat(message[at..], out var n, provider: CultureInfo.InvariantCulture);
            at += n;
            Append(message, ref at, " ");
            entry.DurationMs.TryFormat(message[at..], out n, provider: CultureInfo.InvariantCulture);
            at += n;
            Append(message, ref at, "ms ");
            entry.Bytes.TryFormat(message[at..], out n, provider: CultureInfo.InvariantCulture);
            at += n;
            Append(message, ref at, "B cache=");
            Append(message, ref at, entry.CacheResult);
            Append(message, ref at, " client=");
            if (entry.Client is { } client && client.TryFormat(message[at..], out n))
            {
                at += n;
            }
            else
            {
                Append(message, ref at, "-");
            }

            json.WriteString(MessageName, message[..at]);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(rented);
        }
    }

    private static void Append(Span<char> destination, ref int at, string value)
    {
        value.CopyTo(destination[at..]);
        at += value.Length;
    }

    private void Run()
    {
        var line = new ArrayBufferWriter<byte>(1024);
        var batch = new byte[MaxWrite];
        var batched = 0;
        var batchedLines = 0;
        using var json = new Utf8JsonWriter(line, new JsonWriterOptions { Indented = false, SkipValidation = true });
        var reader = _queue.Reader;
        while (WaitForLines(reader))
        {
            while (reader.TryRead(out var entry))
            {
                line.ResetWrittenCount();
                json.Reset(line);
                Format(entry, json, line);
                var formatted = line.WrittenSpan;
                if (batched + formatted.Length > MaxWrite && batched > 0)
                {
                    Flush(batch.AsSpan(0, batched), batchedLines);
                    batched = 0;
                    batchedLines = 0;
                }

                if (formatted.Length > MaxWrite)
                {
                    Flush(formatted, 1);
                }
                else
                {
                    formatted.CopyTo(batch.AsSpan(batched));
                    batched += formatted.Length;
                    batchedLines++;
                }
            }

            if (batched > 0)
            {
                Flush(batch.AsSpan(0, batched), batchedLines);
                batched = 0;
                batchedLines = 0;
            }
        }
    }

    private static bool WaitForLines(ChannelReader<AccessLogEntry> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Writes whole lines; they count as written once the sink has them, as dropped if it failed.</summary>
    private void Flush(ReadOnlySpan<byte> lines, int count)
    {
        try
        {
            _sink.Write(lines);
            Interlocked.Add(ref _written, count);
        }
        catch (IOException)
        {
            // stdout closed (the reader went away): the lines are lost.
            Interlocked.Add(ref _dropped, count);
        }
    }
}

/// <summary>The "accessLog" section of /status.</summary>
internal sealed class AccessLogStatus(AccessLogWriter writer, Microsoft.Extensions.Options.IOptions<AccessLogOptions> options) : Admin.IStatusContributor
{
    public string Name => "accessLog";

    public object GetStatus() => new AccessLogStatusBody(
        options.Value.Enabled,
        writer.InUse ? "stdout" : "logging",
        writer.InUse ? writer.Written : null,
        writer.InUse ? writer.Dropped : null);
}

internal sealed record AccessLogStatusBody(bool Enabled, string Output, long? Written, long? Dropped);
