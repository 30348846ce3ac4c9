using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace ProxySidecar.Hosting;

/// <summary>
/// Sits between TLS and Kestrel's HTTP/2 code on every h2 connection of the public listener, to make Kestrel's own
/// defence against stream-reset floods (HTTP/2 "rapid reset") visible to the client and quiet in the logs.
/// <para>
/// Kestrel decides when a connection is abusive (too many streams reset before it could finish them: its output
/// queue, bounded at twice the concurrent-stream limit, overflows; or too many ENHANCE_YOUR_CALM resets) and then
/// writes a GOAWAY and aborts the transport in the same call, so the GOAWAY is lost over TLS; and it logs a Critical
/// line for every further stream it cannot queue. Here the abort is held until what Kestrel had written is flushed,
/// then a GOAWAY with an error code (ENHANCE_YOUR_CALM for a reset flood) is written, and only then is the connection
/// closed. The client frames are counted on the way in (frame headers only, no copy), so such a connection's end is
/// logged as one Warning with the counts, and a flood of reset requests writes at most
/// <see cref="LoggedResetRequestsPerConnection"/> access-log lines per connection (a connection the client ends
/// after resetting more than that gets one Information line with the count).
/// </para>
/// </summary>
internal sealed partial class Http2ConnectionGuard(ILogger<Http2ConnectionGuard> logger, TimeProvider time)
{
    /// <summary>Client stream resets on one connection from which its abort counts as abuse (ENHANCE_YOUR_CALM).</summary>
    public const int AbusiveResetCount = 100;

    /// <summary>Access-log lines for requests the client reset (status 499), per HTTP/2 connection; more are counted.</summary>
    public const int LoggedResetRequestsPerConnection = 10;

    private const string ItemKey = "ProxySidecar.Http2ConnectionGuard";

    /// <summary>How long a held abort waits for pending output before it closes the connection anyway.</summary>
    private static readonly TimeSpan FlushDeadline = TimeSpan.FromSeconds(3);

    /// <summary>After a connection was closed, how long its line waits for Kestrel to finish the connection's streams.</summary>
    private static readonly TimeSpan StreamsDeadline = TimeSpan.FromSeconds(5);

    /// <summary>After the GOAWAY, how long the connection stays open for the client to read it (unless it closes first).</summary>
    private static readonly TimeSpan LingerTime = TimeSpan.FromMilliseconds(500);

    /// <summary>The connection middleware; add it after UseHttps so that it sees the negotiated protocol and plain frames.</summary>
    public ConnectionDelegate Wrap(ConnectionDelegate next) => connection =>
        connection.Features.Get<Microsoft.AspNetCore.Server.Kestrel.Core.Features.ITlsApplicationProtocolFeature>()?.ApplicationProtocol.Span.SequenceEqual("h2"u8) == true
            ? GuardAsync(connection, next)
            : next(connection);

    /// <summary>
    /// For the access log: false when <paramref name="context"/> is a request the client reset on an HTTP/2 connection
    /// that has already logged <see cref="LoggedResetRequestsPerConnection"/> of them (it is counted instead).
    /// </summary>
    public static bool ShouldLogResetRequest(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var value) != true
        || value is not ConnectionState state
        || state.TryLogResetRequest();

    private async Task GuardAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var state = new ConnectionState(time.GetTimestamp());
        connection.Items[ItemKey] = state;
        var guarded = new GuardedConnection(connection, state, time);
        var logged = 0;
        void LogEnd()
        {
            if (Interlocked.Exchange(ref logged, 1) == 0)
            {
                LogConnectionEnd(connection, state);
            }
        }

        var transportClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = connection.ConnectionClosed.Register(() => transportClosed.TrySetResult());
        var run = next(guarded);
        _ = LogOnceClosedAsync(run, Task.WhenAny(guarded.Held, transportClosed.Task), guarded, LogEnd);
        try
        {
            await run.ConfigureAwait(false);
        }
        finally
        {
            await guarded.Closing.ConfigureAwait(false);
            LogEnd();
        }
    }

    /// <summary>
    /// Once the connection is closed (by the guard, or by the client), its line is written as soon as Kestrel has
    /// finished the connection's streams (the counts are then final), or after <see cref="StreamsDeadline"/> if that
    /// takes longer, so a connection is always reported close to when it was closed.
    /// </summary>
    private async Task LogOnceClosedAsync(Task run, Task closed, GuardedConnection guarded, Action logEnd)
    {
        await Task.WhenAny(run, closed).ConfigureAwait(false);
        if (run.IsCompleted)
        {
            return;
        }

        await guarded.Closing.ConfigureAwait(false);
        await Task.WhenAny(run, Task.Delay(StreamsDeadline, time)).ConfigureAwait(false);
        logEnd();
    }

    private void LogConnectionEnd(ConnectionContext connection, ConnectionState state)
    {
        var client = (connection.RemoteEndPoint as IPEndPoint)?.Address.ToString() ?? "-";
        var seconds = time.GetElapsedTime(state.Started).TotalSeconds;
        if (state.AbortReason is not null)
        {
            Log.ConnectionClosedByServer(logger, connection.ConnectionId, client, state.AbortReason, state.Streams, state.Resets, seconds, state.UnloggedResetRequests, state.GoAwaySent ?? "none");
        }
        else if (state.UnloggedResetRequests > 0)
        {
            // A client that cancels many requests and then closes (a load generator stopping): worth a line, not a warning.
            Log.ConnectionEndedWithUnloggedResets(logger, connection.ConnectionId, client, state.Streams, state.Resets, seconds, state.UnloggedResetRequests);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(121, LogLevel.Warning,
            "HTTP/2 connection {ConnectionId} from {Client} closed by the server ({Reason}): the client opened {Streams} streams and reset {Resets} of them in {Seconds:F1} s; {UnloggedResetRequests} reset requests were not written to the access log; GOAWAY sent: {GoAway}.")]
        public static partial void ConnectionClosedByServer(ILogger logger, string connectionId, string client, string reason, long streams, long resets, double seconds, long unloggedResetRequests, string goAway);

        [LoggerMessage(122, LogLevel.Information,
            "HTTP/2 connection {ConnectionId} from {Client} ended: the client opened {Streams} streams and reset {Resets} of them in {Seconds:F1} s; {UnloggedResetRequests} reset requests were not written to the access log.")]
        public static partial void ConnectionEndedWithUnloggedResets(ILogger logger, string connectionId, string client, long streams, long resets, double seconds, long unloggedResetRequests);
    }

    /// <summary>What one connection's client did, and how it ended.</summary>
    private sealed class ConnectionState(long started)
    {
        private long _streams;
        private long _resets;
        private int _loggedResetRequests;
        private long _unloggedResetRequests;

        public long Started { get; } = started;

        public long Streams => Interlocked.Read(ref _streams);

        public long Resets => Interlocked.Read(ref _resets);

        public int HighestStreamId { get; private set; }

        public long UnloggedResetRequests => Interlocked.Read(ref _unloggedResetRequests);

        /// <summary>Why Kestrel closed the connection; null when it ended normally.</summary>
        public string? AbortReason { get; set; }

        /// <summary>The error code of the GOAWAY written before closing, e.g. ENHANCE_YOUR_CALM.</summary>
        public string? GoAwaySent { get; set; }

        public bool IsAbusive => Resets >= AbusiveResetCount;

        public void OnClientFrame(byte type, int streamId)
        {
            if (type == 0x1 && streamId > HighestStreamId)
            {
                // HEADERS opening a new stream (a later HEADERS on the same stream is trailers).
                HighestStreamId = streamId;
                Interlocked.Increment(ref _streams);
            }
            else if (type == 0x3)
            {
                Interlocked.Increment(ref _resets);
            }
        }

        public bool TryLogResetRequest()
        {
            if (Interlocked.Increment(ref _loggedResetRequests) <= LoggedResetRequestsPerConnection)
            {
                return true;
            }

            Interlocked.Increment(ref _unloggedResetRequests);
            return false;
        }
    }

    /// <summary>
    /// The connection as Kestrel's HTTP/2 code sees it: its own input and output around the TLS pipe, and an abort
    /// that first flushes and sends a GOAWAY.
    /// </summary>
    private sealed class GuardedConnection : ConnectionContext
    {
        private readonly ConnectionContext _inner;
        private readonly TimeProvider _time;
        private readonly ConnectionState _state;
        private readonly GuardedOutput _output;
        private readonly FrameCountingInput _input;
        private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _closing;
        private int _aborting;

        public GuardedConnection(ConnectionContext inner, ConnectionState state, TimeProvider time)
        {
            _inner = inner;
            _time = time;
            _state = state;
            _output = new GuardedOutput(inner.Transport.Output);
            _input = new FrameCountingInput(inner.Transport.Input, state);
            Transport = new DuplexPipe(_input, _output);
        }

        /// <summary>Completes when an abort is held (the guard is closing the connection itself).</summary>
        public Task Held => _held.Task;

        /// <summary>Completes once a held abort has flushed, sent its GOAWAY and closed the connection.</summary>
        public Task Closing => Volatile.Read(ref _closing)?.Task ?? Task.CompletedTask;

        public override string ConnectionId { get => _inner.ConnectionId; set => _inner.ConnectionId = value; }

        public override IFeatureCollection Features => _inner.Features;

        public override IDictionary<object, object?> Items { get => _inner.Items; set => _inner.Items = value; }

        public override IDuplexPipe Transport { get; set; }

        public override CancellationToken ConnectionClosed { get => _inner.ConnectionClosed; set => _inner.ConnectionClosed = value; }

        public override EndPoint? LocalEndPoint { get => _inner.LocalEndPoint; set => _inner.LocalEndPoint = value; }

        public override EndPoint? RemoteEndPoint { get => _inner.RemoteEndPoint; set => _inner.RemoteEndPoint = value; }

        public override void Abort() => Abort(new ConnectionAbortedException("The connection was aborted."));

        public override void Abort(ConnectionAbortedException abortReason)
        {
            // The client closed the connection (Kestrel aborts on its way out, with or without a reason): nothing to
            // tell it.
            if (abortReason is null || _inner.ConnectionClosed.IsCancellationRequested)
            {
                _inner.Abort(abortReason!);
                return;
            }

            if (Interlocked.Exchange(ref _aborting, 1) == 1)
            {
                return;
            }

            // Called by Kestrel with its HTTP/2 write lock held and every frame written whole: from here on its
            // writes are dropped, and what it had written is flushed before the GOAWAY.
            _state.AbortReason = abortReason.Message;
            _output.Hold();
            _input.Hold();
            var closing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _closing, closing);
            _held.TrySetResult();
            _ = CloseAsync(abortReason, closing);
        }

        // Kestrel disposes the transport's own connection; this view owns nothing.
        [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2215", Justification = "The inner connection is disposed by Kestrel, not through this view.")]
        public override ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private async Task CloseAsync(ConnectionAbortedException abortReason, TaskCompletionSource closing)
        {
            try
            {
                var code = _state.IsAbusive ? ErrorCode.EnhanceYourCalm : ErrorCode.InternalError;
                if (await _output.WriteGoAwayAsync(_state.HighestStreamId, code, FlushDeadline).ConfigureAwait(false))
                {
                    _state.GoAwaySent = code == ErrorCode.EnhanceYourCalm ? "ENHANCE_YOUR_CALM" : "INTERNAL_ERROR";

                    // An abort drops what the transport has not sent yet and, with client bytes still unread, makes
                    // the kernel reset the connection, which can destroy the GOAWAY at the client before it is read.
                    // So the abort waits a moment, until the client closes or the linger time is over.
                    await Task.Delay(LingerTime, _time, _inner.ConnectionClosed).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // The client closed first.
            }
            finally
            {
                _inner.Abort(abortReason);
                closing.TrySetResult();
            }
        }
    }

    private enum ErrorCode
    {
        InternalError = 0x2,
        EnhanceYourCalm = 0xb,
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    /// <summary>
    /// The TLS output as Kestrel writes it, untouched until <see cref="Hold"/>: then Kestrel's further writes go nowhere,
    /// and the guard appends a GOAWAY after what Kestrel had written (whole frames: Kestrel writes frames under a lock
    /// that the abort is called under).
    /// </summary>
    private sealed class GuardedOutput(PipeWriter inner) : PipeWriter
    {
        private readonly object _sync = new();
        private Task? _pendingFlush;
        private bool _held;
        private byte[] _scratch = [];

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        public void Hold()
        {
            lock (_sync)
            {
                _held = true;
            }
        }

        /// <summary>Waits for Kestrel's pending flush, then writes and flushes a GOAWAY; false if that could not be done in time.</summary>
        public async Task<bool> WriteGoAwayAsync(int lastStreamId, ErrorCode code, TimeSpan deadline)
        {
            using var timeout = new CancellationTokenSource(deadline);
            try
            {
                Task? pending;
                lock (_sync)
                {
                    pending = _pendingFlush;
                }

                if (pending is not null)
                {
                    await pending.WaitAsync(timeout.Token).ConfigureAwait(false);
                }

                var frame = inner.GetSpan(17);
                frame[..3].Clear();
                frame[2] = 8;
                frame[3] = 0x7;
                frame[4] = 0;
                BinaryPrimitives.WriteInt32BigEndian(frame[5..], 0);
                BinaryPrimitives.WriteInt32BigEndian(frame[9..], lastStreamId & 0x7FFFFFFF);
                BinaryPrimitives.WriteInt32BigEndian(frame[13..], (int)code);
                inner.Advance(17);
                var result = await inner.FlushAsync(timeout.Token).ConfigureAwait(false);
                return !result.IsCanceled;
            }
            catch (Exception error) when (error is OperationCanceledException or IOException or InvalidOperationException or ObjectDisposedException)
            {
                return false;
            }
        }

        public override void Advance(int bytes)
        {
            if (!IsHeld())
            {
                inner.Advance(bytes);
            }
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => IsHeld() ? Scratch(sizeHint) : inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => IsHeld() ? Scratch(sizeHint).Span : inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (IsHeld())
            {
                return ValueTask.FromResult(new FlushResult(isCanceled: false, isCompleted: true));
            }

            var flush = inner.FlushAsync(cancellationToken);
            if (flush.IsCompleted)
            {
                return flush;
            }

            var task = flush.AsTask();
            lock (_sync)
            {
                _pendingFlush = task;
            }

            return new ValueTask<FlushResult>(task);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            if (!IsHeld())
            {
                inner.Complete(exception);
            }
        }

        private bool IsHeld()
        {
            lock (_sync)
            {
                return _held;
            }
        }

        private Memory<byte> Scratch(int sizeHint)
        {
            var size = Math.Max(sizeHint, 4096);
            if (_scratch.Length < size)
            {
                _scratch = new byte[size];
            }

            return _scratch;
        }
    }

    /// <summary>
    /// Kestrel's view of the client's bytes: the same buffers, with each frame header counted as it goes by (the
    /// preface first, then 9-byte frame headers and their payloads skipped). Once held (the connection is being
    /// closed), Kestrel reads the end of the input: it starts no more streams from what the client still sends.
    /// </summary>
    private sealed class FrameCountingInput(PipeReader inner, ConnectionState state) : PipeReader
    {
        private static readonly ReadResult Ended = new(ReadOnlySequence<byte>.Empty, isCanceled: false, isCompleted: true);

        private readonly byte[] _header = new byte[9];
        private int _headerFilled;
        private long _skip = 24;
        private long _bufferStart;
        private long _scanned;
        private ReadOnlySequence<byte> _last;
        private volatile bool _held;
        private bool _lastEnded;

        public void Hold()
        {
            _held = true;
            inner.CancelPendingRead();
        }

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (_held)
            {
                _lastEnded = true;
                return Ended;
            }

            var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            return Accept(result);
        }

        public override bool TryRead(out ReadResult result)
        {
            if (_held)
            {
                _lastEnded = true;
                result = Ended;
                return true;
            }

            if (!inner.TryRead(out result))
            {
                return false;
            }

            result = Accept(result);
            return true;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            if (_lastEnded)
            {
                _lastEnded = false;
                return;
            }

            _bufferStart += _last.Slice(_last.Start, consumed).Length;
            _last = default;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        private ReadResult Accept(ReadResult result)
        {
            if (_held)
            {
                // Held while the read was pending: leave the bytes unread.
                inner.AdvanceTo(result.Buffer.Start);
                _lastEnded = true;
                return Ended;
            }

            Scan(result.Buffer);
            return result;
        }

        private void Scan(ReadOnlySequence<byte> buffer)
        {
            _last = buffer;
            var end = _bufferStart + buffer.Length;
            if (end <= _scanned)
            {
                return;
            }

            foreach (var segment in buffer.Slice(_scanned - _bufferStart))
            {
                var span = segment.Span;
                while (span.Length > 0)
                {
                    if (_skip > 0)
                    {
                        var skipped = (int)Math.Min(_skip, span.Length);
                        _skip -= skipped;
                        span = span[skipped..];
                        continue;
                    }

                    var take = Math.Min(9 - _headerFilled, span.Length);
                    span[..take].CopyTo(_header.AsSpan(_headerFilled));
                    _headerFilled += take;
                    span = span[take..];
                    if (_headerFilled == 9)
                    {
                        _headerFilled = 0;
                        _skip = (_header[0] << 16) | (_header[1] << 8) | _header[2];
                        state.OnClientFrame(_header[3], BinaryPrimitives.ReadInt32BigEndian(_header.AsSpan(5)) & 0x7FFFFFFF);
                    }
                }
            }

            _scanned = end;
        }
    }
}
