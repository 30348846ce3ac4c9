using System.Buffers;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace ProxySidecar.Hosting;

/// <summary>
/// Just before a request is forwarded: a body declared larger than the limit is answered 413 before anything reaches
/// the app; and with <see cref="RequestBufferingOptions.Enabled"/>, the whole body is read first (as nginx does), so
/// that the app sees nothing of a request whose body is slow, cut off, malformed or too large, and receives a chunked
/// body with a Content-Length.
/// </summary>
internal sealed partial class RequestBodyMiddleware(RequestDelegate next, IOptions<HostingOptions> options, RequestBufferBudget budget, ILogger<RequestBodyMiddleware> logger)
{
    private const int SegmentSize = 16 * 1024;

    private readonly RequestBufferingOptions _buffering = options.Value.RequestBuffering;

    public Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false })
        {
            return next(context);
        }

        var limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        if (_buffering.Enabled)
        {
            limit = limit is { } max ? Math.Min(max, _buffering.MaxBytes) : _buffering.MaxBytes;
        }

        if (context.Request.ContentLength > limit)
        {
            return RejectAsync(context, StatusCodes.Status413PayloadTooLarge, "The request body is larger than this server accepts.");
        }

        return _buffering.Enabled ? BufferThenForwardAsync(context, limit!.Value) : next(context);
    }

    private async Task BufferThenForwardAsync(HttpContext context, long limit)
    {
        var request = context.Request;
        using var body = new BufferedBody(budget);
        try
        {
            var failure = await body.FillAsync(request.Body, limit, context.RequestAborted).ConfigureAwait(false);
            if (failure is { } rejected)
            {
                await RejectAsync(context, rejected.Status, rejected.Message).ConfigureAwait(false);
                return;
            }
        }
        catch (BadHttpRequestException error)
        {
            // Kestrel's verdict on the body: malformed chunked framing (400), too large (413), too slow (408).
            Log.BodyRejected(logger, error.StatusCode, error.Message);
            await RejectAsync(context, error.StatusCode, "The request body was not accepted: " + error.Message).ConfigureAwait(false);
            return;
        }
        catch (Exception error) when (error is OperationCanceledException || context.RequestAborted.IsCancellationRequested)
        {
            // The client went away before its body was complete: nothing to answer, nothing forwarded.
            return;
        }
        catch (IOException error)
        {
            // Kestrel reports some malformed bodies (a chunk size that overflows) as a plain IOException.
            Log.BodyRejected(logger, StatusCodes.Status400BadRequest, error.Message);
            await RejectAsync(context, StatusCodes.Status400BadRequest, "The request body could not be read: " + error.Message).ConfigureAwait(false);
            return;
        }

        request.Body = body.CreateReadStream();
        request.Headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.TransferEncoding);
        request.ContentLength = body.Length;
        await next(context).ConfigureAwait(false);
    }

    private static Task RejectAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return Task.CompletedTask;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        if (status is StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = "1";
        }

        // The unread rest of the body would otherwise have to be read (or waited for) before the next request.
        if (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
        {
            context.Response.Headers.Connection = "close";
        }

        return context.Response.WriteAsync(message + "\n");
    }

    private static partial class Log
    {
        [LoggerMessage(111, LogLevel.Debug, "Request body refused before forwarding ({Status}): {Reason}")]
        public static partial void BodyRejected(ILogger logger, int status, string reason);
    }

    /// <summary>A body read whole into pooled segments, each counted against the <see cref="RequestBufferBudget"/>.</summary>
    private sealed class BufferedBody(RequestBufferBudget budget) : IDisposable
    {
        private readonly List<byte[]> _segments = [];
        private long _reserved;

        public long Length { get; private set; }

        /// <summary>Reads <paramref name="source"/> to its end; a refusal (status and message) when it cannot be held.</summary>
        public async Task<(int Status, string Message)?> FillAsync(Stream source, long limit, CancellationToken cancellationToken)
        {
            while (true)
            {
                var used = (int)(Length % SegmentSize);
                if (used == 0)
                {
                    if (!budget.TryReserve(SegmentSize))
                    {
                        return (StatusCodes.Status503ServiceUnavailable, "Too many request bodies are being received at once; try again.");
                    }

                    _reserved += SegmentSize;
                    _segments.Add(ArrayPool<byte>.Shared.Rent(SegmentSize));
                }

                var read = await source.ReadAsync(_segments[^1].AsMemory(used, SegmentSize - used), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return null;
                }

                Length += read;
                if (Length > limit)
                {
                    return (StatusCodes.Status413PayloadTooLarge, "The request body is larger than this server accepts.");
                }
            }
        }

        public SegmentStream CreateReadStream() => new(_segments, Length);

        public void Dispose()
        {
            foreach (var segment in _segments)
            {
                ArrayPool<byte>.Shared.Return(segment);
            }

            _segments.Clear();
            budget.Release(_reserved);
            _reserved = 0;
        }
    }

    /// <summary>Reads the buffered segments in order; the buffer is returned when the request ends, not when this is disposed.</summary>
    private sealed class SegmentStream(List<byte[]> segments, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var total = 0;
            while (buffer.Length > 0 && _position < length)
            {
                var segment = segments[(int)(_position / SegmentSize)];
                var offset = (int)(_position % SegmentSize);
                var available = (int)Math.Min(SegmentSize - offset, length - _position);
                var count = Math.Min(available, buffer.Length);
                segment.AsSpan(offset, count).CopyTo(buffer);
                buffer = buffer[count..];
                _position += count;
                total += count;
            }

            return total;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>The memory all buffered request bodies hold together, against <see cref="RequestBufferingOptions.MaxTotalBytes"/>.</summary>
internal sealed class RequestBufferBudget(IOptions<HostingOptions> options)
{
    private readonly long _max = options.Value.RequestBuffering.MaxTotalBytes;
    private long _held;
    private long _refused;

    public long Held => Interlocked.Read(ref _held);

    /// <summary>Requests answered 503 because the budget was used up.</summary>
    public long Refused => Interlocked.Read(ref _refused);

    public bool TryReserve(long bytes)
    {
        if (Interlocked.Add(ref _held, bytes) <= _max)
        {
            return true;
        }

        Interlocked.Add(ref _held, -bytes);
        Interlocked.Increment(ref _refused);
        return false;
    }

    public void Release(long bytes) => Interlocked.Add(ref _held, -bytes);
}

/// <summary>The <c>requestBuffering</c> section of /status.</summary>
internal sealed class RequestBufferingStatus(IOptions<HostingOptions> options, RequestBufferBudget budget) : Admin.IStatusContributor
{
    public string Name => "requestBuffering";

    public object GetStatus()
    {
        var buffering = options.Value.RequestBuffering;
        return new RequestBufferingStatusBody(buffering.Enabled, buffering.MaxBytes, buffering.MaxTotalBytes, budget.Held, budget.Refused);
    }
}

internal sealed record RequestBufferingStatusBody(bool Enabled, long MaxBytes, long MaxTotalBytes, long HeldBytes, long Refused);
