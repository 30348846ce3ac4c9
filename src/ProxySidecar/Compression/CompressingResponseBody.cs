using System.IO.Pipelines;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace ProxySidecar.Compression;

/// <summary>
/// Stands in for the response body of a request compression may apply to. Nothing is decided until the response
/// starts (first write, flush, start or completion); then the status and headers say whether it is compressed
/// (<see cref="CompressionFeature.PlanFor(HttpResponse)"/>). A compressed response is encoded as it is written, and
/// every flush the app (or the forwarder) asks for reaches the client: nothing is held back beyond what the encoder
/// needs. A response the cache answers itself passes through untouched: its stored representation is already encoded.
/// </summary>
internal sealed class CompressingResponseBody : WriteOnlyStream, IHttpResponseBodyFeature
{
    private readonly IHttpResponseBodyFeature _inner;
    private readonly HttpContext _context;
    private readonly CompressionFeature _feature;
    private readonly CompressionMetrics _metrics;
    private PipeWriter? _writer;
    private Stream? _encoder;
    private CountingWriteStream? _counted;
    private ContentCoding _coding;
    private bool _decided;
    private bool _finished;
    private long _input;

    public CompressingResponseBody(IHttpResponseBodyFeature inner, HttpContext context, CompressionFeature feature, CompressionMetrics metrics)
    {
        _inner = inner;
        _context = context;
        _feature = feature;
        _metrics = metrics;
    }

    /// <summary>The coding chosen when the response started (identity before).</summary>
    public ContentCoding Coding => _coding;

    public Stream Stream => this;

    public PipeWriter Writer => _writer ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public void DisableBuffering() => _inner.DisableBuffering();

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        Decide();
        await _inner.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default) =>
        SendFileFallback.SendFileAsync(this, path, offset, count, cancellationToken);

    public async Task CompleteAsync()
    {
        if (_writer is not null)
        {
            await _writer.FlushAsync().ConfigureAwait(false);
        }

        await FinishAsync().ConfigureAwait(false);
        await _inner.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Writes the encoder's last block, once; called at completion, or when the request's pipeline returns.</summary>
    public async Task FinishAsync()
    {
        // Nothing was written: the body is empty, and an empty body is never encoded.
        Decide(mayEncode: false);
        if (_finished)
        {
            return;
        }

        _finished = true;
        if (_writer is not null)
        {
            await _writer.FlushAsync().ConfigureAwait(false);
        }

        if (_encoder is { } encoder)
        {
            await encoder.DisposeAsync().ConfigureAwait(false);
            _metrics.Encoded(_coding, stored: false, _input, _counted!.Written);
        }
    }

    /// <summary>Drops the encoder without finishing it (the response broke off).</summary>
    public void Abandon()
    {
        _finished = true;
        try
        {
            _encoder?.Dispose();
        }
        catch (Exception error) when (error is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client is gone; there is nothing left to finish.
        }
    }

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        Decide();
        if (_encoder is { } encoder)
        {
            await encoder.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        await _inner.Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Decide();
        return _encoder is null ? _inner.Stream.WriteAsync(buffer, cancellationToken) : EncodeAsync(buffer, cancellationToken);
    }

    /// <summary>
    /// Encodes one write and flushes the encoder: what the app has sent so far reaches the client as it would uncompressed
    /// (the forwarder writes what arrives, as it arrives, and each write of the server's body goes out).
    /// </summary>
    private async ValueTask EncodeAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        _input += buffer.Length;
        await _encoder!.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        await _encoder.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Decide(bool mayEncode = true)
    {
        if (_decided)
        {
            return;
        }

        _decided = true;
        var response = _context.Response;
        if (_feature.AnsweredByCache || response.HasStarted)
        {
            return;
        }

        var headers = response.Headers;
        if (response.StatusCode == StatusCodes.Status304NotModified && headers.ETag is { Count: 1 } notModifiedTag && notModifiedTag[0] is { } appTag
            && EncodedValidators.CodingOfClientTag(_feature.MappedTags, appTag) is { } clientCoding && EncodedValidators.For(appTag, clientCoding) is { } tag)
        {
            // The client's validator named a compressed representation: the 304 confirms that one.
            headers.ETag = tag;
            return;
        }

        var plan = _feature.PlanFor(response);
        if (plan.Vary)
        {
            CompressionFeature.AddVary(headers);
        }

        if (plan.Coding == ContentCoding.Identity || !mayEncode)
        {
            return;
        }

        _coding = plan.Coding;
        headers.ContentEncoding = plan.Coding.Name();
        if (headers.ETag is { Count: 1 } etag && etag[0] is { } value)
        {
            if (EncodedValidators.For(value, plan.Coding) is { } suffixed)
            {
                headers.ETag = suffixed;
            }
            else
            {
                headers.Remove(HeaderNames.ETag);
            }
        }
        else if (headers.ETag.Count > 1)
        {
            headers.Remove(HeaderNames.ETag);
        }

        foreach (var name in IdentityOnlyHeaders)
        {
            headers.Remove(name);
        }

        _counted = new CountingWriteStream(_inner.Stream);
        _encoder = Encoders.CreateStream(_counted, plan.Coding, _feature.Policy.Quality(plan.Coding, stored: false));
        _metrics.Served(plan.Coding, stored: false);
    }

    private static readonly string[] IdentityOnlyHeaders =
        [HeaderNames.ContentLength, HeaderNames.AcceptRanges, HeaderNames.ContentMD5, "Content-Digest", "Repr-Digest", "Digest"];
}
