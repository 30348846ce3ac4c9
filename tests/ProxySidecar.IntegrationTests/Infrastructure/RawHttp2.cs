using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>One HTTP/2 frame as it arrived.</summary>
public sealed record Http2Frame(byte Type, byte Flags, int StreamId, byte[] Payload)
{
    public const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7;

    /// <summary>For GOAWAY: the error code; for RST_STREAM: the error code.</summary>
    public int ErrorCode => Type switch
    {
        GoAway => BinaryPrimitives.ReadInt32BigEndian(Payload.AsSpan(4, 4)),
        RstStream => BinaryPrimitives.ReadInt32BigEndian(Payload.AsSpan(0, 4)),
        _ => throw new InvalidOperationException($"Frame type {Type} carries no error code."),
    };

    /// <summary>
    /// For HEADERS: the status when the server sent it as an indexed field of the static table (200, 204, 206, 304,
    /// 400, 404, 500, which is how Kestrel sends these), otherwise null.
    /// </summary>
    public int? IndexedStatus
    {
        get
        {
            var block = Payload.AsSpan(HeaderBlockStart);
            return block.Length > 0 && (block[0] & 0x80) != 0 && (block[0] & 0x7F) is >= 8 and <= 14 and var index
                ? new[] { 200, 204, 206, 304, 400, 404, 500 }[index - 8]
                : null;
        }
    }

    private int HeaderBlockStart => ((Flags & 0x8) != 0 ? 1 : 0) + ((Flags & 0x20) != 0 ? 5 : 0);
}

/// <summary>
/// A bare HTTP/2 client over TLS that sends exactly the frames a test writes (pseudo-headers HttpClient would not send,
/// streams reset at once) and records every frame the server sends. Header blocks are HPACK literals without Huffman
/// coding. Frames are read until the server closes the connection.
/// </summary>
public sealed class RawHttp2 : IAsyncDisposable
{
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly TcpClient _tcp;
    private readonly SslStream _tls;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly List<Http2Frame> _frames = [];
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _reader = Task.CompletedTask;

    private RawHttp2(TcpClient tcp, SslStream tls)
    {
        _tcp = tcp;
        _tls = tls;
    }

    /// <summary>Completes when the server has closed the connection (or it broke).</summary>
    public Task Closed => _closed.Task;

    public IReadOnlyList<Http2Frame> Frames
    {
        get
        {
            lock (_frames)
            {
                return _frames.ToArray();
            }
        }
    }

    public static async Task<RawHttp2> ConnectAsync(int port, CancellationToken cancellationToken = default)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            },
            cancellationToken);
        if (tls.NegotiatedApplicationProtocol != SslApplicationProtocol.Http2)
        {
            throw new InvalidOperationException("The server did not negotiate h2.");
        }

        var connection = new RawHttp2(tcp, tls);
        await connection.SendAsync([.. Preface, .. Frame(Http2Frame.Settings, 0, 0, [])]);
        connection._reader = Task.Run(connection.ReadLoopAsync, CancellationToken.None);
        return connection;
    }

    /// <summary>A request head: the pseudo-headers first, then the others, as literals.</summary>
    public static byte[] HeadersFrame(int streamId, IEnumerable<(string Name, string Value)> fields, bool endStream)
    {
        var block = new List<byte>();
        foreach (var (name, value) in fields)
        {
            block.Add(0x00);
            AddString(block, name);
            AddString(block, value);
        }

        return Frame(Http2Frame.Headers, (byte)(0x4 | (endStream ? 0x1 : 0)), streamId, block.ToArray());
    }

    public static byte[] RstStreamFrame(int streamId, int errorCode = 0x8)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, errorCode);
        return Frame(Http2Frame.RstStream, 0, streamId, payload);
    }

    public static byte[] Frame(byte type, byte flags, int streamId, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(5), streamId);
        payload.CopyTo(frame, 9);
        return frame;
    }

    /// <summary>A GET for <paramref name="path"/> with the given :authority and extra header fields.</summary>
    public static IEnumerable<(string, string)> Get(string path, string authority, params (string, string)[] extra) =>
        [(":method", "GET"), (":scheme", "https"), (":path", path), (":authority", authority), .. extra];

    /// <summary>Writes bytes; false when the server has already closed the connection.</summary>
    public async Task<bool> SendAsync(byte[] bytes)
    {
        await _writeLock.WaitAsync();
        try
        {
            await _tls.WriteAsync(bytes);
            await _tls.FlushAsync();
            return true;
        }
        catch (Exception error) when (error is IOException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Waits until a frame matching <paramref name="match"/> arrived, or the connection closed without one.</summary>
    public async Task<Http2Frame?> WaitForFrameAsync(Func<Http2Frame, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Frames.FirstOrDefault(match) is { } frame)
            {
                return frame;
            }

            if (Closed.IsCompleted)
            {
                return Frames.FirstOrDefault(match);
            }

            await Task.Delay(10);
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        await _reader.ConfigureAwait(false);
        await _tls.DisposeAsync();
        _writeLock.Dispose();
    }

    private static void AddString(List<byte> block, string text)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        if (bytes.Length < 127)
        {
            block.Add((byte)bytes.Length);
        }
        else
        {
            block.Add(127);
            var rest = bytes.Length - 127;
            while (rest >= 128)
            {
                block.Add((byte)((rest & 0x7F) | 0x80));
                rest >>= 7;
            }

            block.Add((byte)rest);
        }

        block.AddRange(bytes);
    }

    private async Task ReadLoopAsync()
    {
        var header = new byte[9];
        try
        {
            while (true)
            {
                await _tls.ReadExactlyAsync(header);
                var length = (header[0] << 16) | (header[1] << 8) | header[2];
                var payload = new byte[length];
                await _tls.ReadExactlyAsync(payload);
                var frame = new Http2Frame(header[3], header[4], BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5)) & 0x7FFFFFFF, payload);
                lock (_frames)
                {
                    _frames.Add(frame);
                }

                if (frame.Type == Http2Frame.Settings && (frame.Flags & 0x1) == 0)
                {
                    await SendAsync(Frame(Http2Frame.Settings, 0x1, 0, []));
                }
            }
        }
        catch (Exception error) when (error is IOException or EndOfStreamException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
        finally
        {
            _closed.TrySetResult();
        }
    }
}
