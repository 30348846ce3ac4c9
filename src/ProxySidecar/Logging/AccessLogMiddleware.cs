using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using ProxySidecar.Caching;

namespace ProxySidecar.Logging;

/// <summary>
/// Writes one line per request with method, path, status, duration and bytes sent, after the response
/// completed. Query strings are not logged (they may carry secrets). When the logs go only to the console
/// (the default), the line is handed to <see cref="AccessLogWriter"/>, which formats and writes it off the
/// request path; when another log destination is configured (OTLP export), it goes through the logging
/// pipeline like every other entry so that it reaches that destination too. The level set for the
/// category (<c>Logging:LogLevel:ProxySidecar.AccessLog</c>) applies either way.
/// </summary>
internal sealed class AccessLogMiddleware(
    RequestDelegate next,
    IOptions<AccessLogOptions> options,
    ILoggerFactory loggers,
    AccessLogWriter writer,
    TimeProvider time)
{
    private readonly bool _enabled = options.Value.Enabled;
    private readonly ILogger _logger = loggers.CreateLogger(AccessLogWriter.Category);
    private readonly AccessLogWriter? _writer = writer.InUse ? writer : null;

    public Task InvokeAsync(HttpContext context)
    {
        if (!_enabled || !_logger.IsEnabled(LogLevel.Information))
        {
            return next(context);
        }

        return LogAsync(context);
    }

    private async Task LogAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var counter = new CountingBodyFeature(context.Features.GetRequiredFeature<IHttpResponseBodyFeature>());
        context.Features.Set<IHttpResponseBodyFeature>(counter);
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            context.Features.Set<IHttpResponseBodyFeature>(counter.Inner);

            // A request the client reset: on an HTTP/2 connection that resets many, only the first few are logged
            // (the connection's end is logged with the count), so a reset flood cannot flood the log.
            if (!context.RequestAborted.IsCancellationRequested || Hosting.Http2ConnectionGuard.ShouldLogResetRequest(context))
            {
                Write(context, started, counter.BytesWritten);
            }
        }
    }

    private void Write(HttpContext context, long started, long bytes)
    {
        var activity = Activity.Current;
        var entry = new AccessLogEntry(
            time.GetUtcNow(),
            context.Request.Method,
            context.Request.Path.Value ?? "/",
            context.Request.Protocol,
            context.RequestAborted.IsCancellationRequested ? 499 : context.Response.StatusCode,
            Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 3),
            bytes,
            context.Features.Get<ICacheResultFeature>()?.Result.Name() ?? "none",
            context.Connection.RemoteIpAddress,
            activity?.TraceId ?? default,
            activity?.SpanId ?? default,
            context.Connection.Id,
            context.TraceIdentifier);
        if (_writer is not null)
        {
            _writer.Write(entry);
        }
        else
        {
            AccessLog.Request(_logger, entry);
        }
    }

    private sealed class CountingBodyFeature(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
    {
        private CountingWriteStream? _stream;
        private System.IO.Pipelines.PipeWriter? _writer;
        private long _sentFromFiles;

        public IHttpResponseBodyFeature Inner => inner;

        public long BytesWritten => (_stream?.Written ?? 0) + _sentFromFiles;

        public Stream Stream => _stream ??= new CountingWriteStream(inner.Stream);

        public System.IO.Pipelines.PipeWriter Writer => _writer ??= System.IO.Pipelines.PipeWriter.Create(Stream, new System.IO.Pipelines.StreamPipeWriterOptions(leaveOpen: true));

        public void DisableBuffering() => inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

        public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            await inner.SendFileAsync(path, offset, count, cancellationToken).ConfigureAwait(false);
            _sentFromFiles += count ?? new FileInfo(path).Length - offset;
        }

        public async Task CompleteAsync()
        {
            if (_writer is not null)
            {
                await _writer.FlushAsync().ConfigureAwait(false);
            }

            await inner.CompleteAsync().ConfigureAwait(false);
        }
    }
}

internal static partial class AccessLog
{
    [LoggerMessage(1, LogLevel.Information, "{Method} {Path} {Protocol} {Status} {DurationMs}ms {Bytes}B cache={CacheResult} client={Client}", EventName = "Request")]
    public static partial void Request(ILogger logger, string method, string path, string protocol, int status, double durationMs, long bytes, string cacheResult, string client);

    public static void Request(ILogger logger, in AccessLogEntry entry) => Request(
        logger, entry.Method, entry.Path, entry.Protocol, entry.Status, entry.DurationMs, entry.Bytes, entry.CacheResult, entry.Client?.ToString() ?? "-");
}
