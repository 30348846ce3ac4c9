using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;

namespace ProxySidecar.Caching;

/// <summary>What happens to the body of a forwarded response.</summary>
internal enum BodyMode
{
    /// <summary>Not decided yet: nothing has been sent.</summary>
    Undecided,

    /// <summary>Sent to the client, not kept.</summary>
    PassThrough,

    /// <summary>Sent to the client as it arrives and captured for the store (until MaxEntryBytes).</summary>
    Tee,

    /// <summary>Held back from the client (a 304 that freshens the entry, an error answered with a stale entry, a background refresh); captured.</summary>
    Hold,
}

/// <summary>
/// Stands in for the response body while the app's answer is forwarded. Nothing reaches the client until
/// the first write, flush, start or completion; at that moment <see cref="Decide"/> looks at the status and
/// headers and picks a <see cref="BodyMode"/>. Captured bytes stop being kept (and the buffer is dropped)
/// as soon as they exceed the limit, so a large body streams through without being held in memory.
/// </summary>
internal sealed class CapturingResponseBody : WriteOnlyStream, IHttpResponseBodyFeature
{
    private readonly IHttpResponseBodyFeature _inner;
    private readonly Func<CapturingResponseBody, BodyMode> _decide;
    private readonly CaptureBudget? _budget;
    private ArrayBufferWriter<byte>? _buffer;
    private PipeWriter? _writer;
    private long _reserved;

    public CapturingResponseBody(IHttpResponseBodyFeature inner, long limit, Func<CapturingResponseBody, BodyMode> decide, CaptureBudget? budget = null)
    {
        _inner = inner;
        Limit = limit;
        _decide = decide;
        _budget = budget;
    }

    public IHttpResponseBodyFeature Inner => _inner;

    public BodyMode Mode { get; private set; }

    public long Limit { get; }

    public long Written { get; private set; }

    /// <summary>True when the body went beyond <see cref="Limit"/> (the capture was dropped).</summary>
    public bool Overflowed { get; private set; }

    /// <summary>True once the app's body has been written completely (the forward did not break off).</summary>
    public ReadOnlyMemory<byte> Captured => _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.WrittenMemory;

    public Stream Stream => this;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    /// <summary>Decides now if nothing forced it yet (a response without a body).</summary>
    public BodyMode EnsureDecided()
    {
        if (Mode == BodyMode.Undecided)
        {
            Mode = _decide(this);
            if (Mode is BodyMode.Tee or BodyMode.Hold)
            {
                if (Reserve(4096))
                {
                    _buffer = new ArrayBufferWriter<byte>(4096);
                }
                else
                {
                    Overflowed = true;
                }
            }
        }

        return Mode;
    }

    public void DisableBuffering() => _inner.DisableBuffering();

    /// <summary>Gives the captured bytes back to the budget (once the entry has been built from them, or not).</summary>
    public void ReleaseCapture()
    {
        DropCapture();
    }

    /// <summary>
    /// Keeps the budget reservation at least as large as the buffer will be (its capacity grows by doubling), so what is
    /// reserved covers what is allocated.
    /// </summary>
    private bool Reserve(long needed)
    {
        if (_budget is null || needed <= _reserved)
        {
            return true;
        }

        var target = Math.Min(Math.Max(needed, _reserved * 2), Limit);
        if (!_budget.TryReserve(target - _reserved))
        {
            return false;
        }

        _reserved = target;
        return true;
    }

    private void DropCapture()
    {
        _buffer = null;
        if (_reserved > 0)
        {
            _budget?.Release(_reserved);
            _reserved = 0;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken = default) =>
        EnsureDecided() is BodyMode.PassThrough or BodyMode.Tee ? _inner.StartAsync(cancellationToken) : Task.CompletedTask;

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(this, path, offset, count, cancellationToken);

    public async Task CompleteAsync()
    {
        if (_writer is not null)
        {
            await _writer.FlushAsync().ConfigureAwait(false);
        }

        if (EnsureDecided() is BodyMode.PassThrough or BodyMode.Tee)
        {
            await _inner.CompleteAsync().ConfigureAwait(false);
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        EnsureDecided() is BodyMode.PassThrough or BodyMode.Tee ? _inner.Stream.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var mode = EnsureDecided();
        Written += buffer.Length;
        if (_buffer is not null)
        {
            if (Written > Limit || !Reserve(_buffer.WrittenCount + buffer.Length))
            {
                DropCapture();
                Overflowed = true;
            }
            else
            {
                _buffer.Write(buffer.Span);
            }
        }

        return mode is BodyMode.PassThrough or BodyMode.Tee ? _inner.Stream.WriteAsync(buffer, cancellationToken) : ValueTask.CompletedTask;
    }
}
