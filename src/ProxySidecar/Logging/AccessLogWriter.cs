using System.Buffers;
using System.Diagnostics;
using System.Net;
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
/// thread formats them (<see cref="AccessLogFormat"/>) into the same JSON line shape as every other log
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

    private void Run()
    {
        var line = new ArrayBufferWriter<byte>(1024);
        var batch = new byte[MaxWrite];
        var batched = 0;
        var batchedLines = 0;
        var reader = _queue.Reader;
        while (WaitForLines(reader))
        {
            while (reader.TryRead(out var entry))
            {
                line.ResetWrittenCount();
                try
                {
                    AccessLogFormat.Format(entry, line);
                }
                catch (Exception error) when (error is ArgumentException or IndexOutOfRangeException)
                {
                    // A line that cannot be formatted is dropped and counted; it never stops the writer (whose end
                    // would end the process).
                    Interlocked.Increment(ref _dropped);
                    continue;
                }

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
