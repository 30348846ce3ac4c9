using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>A request head exactly as the app received it, and its body.</summary>
public sealed record RawRequest(string Head, IReadOnlyList<(string Name, string Value)> Headers, byte[] Body)
{
    public string RequestLine => Head[..Head.IndexOf("\r\n", StringComparison.Ordinal)];

    public string Target => RequestLine.Split(' ')[1];

    public IEnumerable<string> Values(string name) =>
        Headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value);
}

/// <summary>
/// An app written on a bare socket: it records every request head byte for byte (a server framework would reject or
/// merge what the test wants to see, such as two Host headers), reads bodies by Content-Length or chunked framing,
/// and answers with exactly the bytes its handler returns (header values no framework would write). Keep-alive.
/// </summary>
public sealed class RawUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ConcurrentQueue<RawRequest> _received = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<TcpClient> _clients = [];
    private Task _accepting = Task.CompletedTask;
    private int _heads;

    public Uri Address { get; private set; } = null!;

    /// <summary>Request heads that arrived (counted as soon as the head is read, before any body).</summary>
    public int Heads => Volatile.Read(ref _heads);

    /// <summary>Requests received whole (head and body), in arrival order.</summary>
    public IReadOnlyList<RawRequest> Received => _received.ToArray();

    /// <summary>
    /// Read header names with '_' as '-', as CGI-style servers do (both become HTTP_X_NAME): then a client's
    /// Transfer_Encoding frames the body for the app, though not for the proxy in front of it.
    /// </summary>
    public bool UnderscoreIsHyphen { get; set; }

    /// <summary>The response, as bytes, for a request; the default answers 200 "ok".</summary>
    public Func<RawRequest, byte[]> Respond { get; set; } = _ => Response(200, "ok");

    public static RawUpstream Start()
    {
        var upstream = new RawUpstream();
        upstream._listener.Start();
        upstream.Address = new Uri($"http://127.0.0.1:{((IPEndPoint)upstream._listener.LocalEndpoint).Port}");
        upstream._accepting = Task.Run(upstream.AcceptAsync);
        return upstream;
    }

    /// <summary>A response with the given status, body and extra header lines (written as Latin-1 bytes, one char one byte).</summary>
    public static byte[] Response(int status, string body, params string[] headerLines)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} X\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n");
        foreach (var line in headerLines)
        {
            head.Append(line).Append("\r\n");
        }

        return [.. Encoding.Latin1.GetBytes(head.Append("\r\n").ToString()), .. Encoding.UTF8.GetBytes(body)];
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        try
        {
            await _accepting;
        }
        catch (Exception error) when (error is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _clients.Add(client);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        try
        {
            var stream = client.GetStream();
            var buffer = new Buffered(stream);
            while (!_stop.IsCancellationRequested)
            {
                var head = await buffer.ReadUntilAsync("\r\n\r\n"u8.ToArray(), 64 * 1024, _stop.Token);
                if (head is null)
                {
                    return;
                }

                Interlocked.Increment(ref _heads);
                var text = Encoding.Latin1.GetString(head);
                var headers = text.Split("\r\n").Skip(1)
                    .Where(line => line.Contains(':', StringComparison.Ordinal))
                    .Select(line => (line[..line.IndexOf(':', StringComparison.Ordinal)], line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()))
                    .Select(h => UnderscoreIsHyphen ? (h.Item1.Replace('_', '-'), h.Item2) : h)
                    .ToList();
                var body = await ReadBodyAsync(buffer, headers, _stop.Token);
                if (body is null)
                {
                    return;
                }

                var request = new RawRequest(text, headers, body);
                _received.Enqueue(request);
                await stream.WriteAsync(Respond(request), _stop.Token);
            }
        }
        catch (Exception error) when (error is IOException or SocketException or OperationCanceledException or ObjectDisposedException or FormatException)
        {
        }
        finally
        {
            client.Dispose();
        }
    }

    private static async Task<byte[]?> ReadBodyAsync(Buffered buffer, List<(string Name, string Value)> headers, CancellationToken cancel)
    {
        if (headers.Any(h => h.Name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            var body = new List<byte>();
            while (true)
            {
                var line = await buffer.ReadUntilAsync("\r\n"u8.ToArray(), 1024, cancel);
                if (line is null)
                {
                    return null;
                }

                var size = Convert.ToInt32(Encoding.ASCII.GetString(line).Split(';')[0].Trim(), 16);
                if (size == 0)
                {
                    // Trailers, then the empty line.
                    while (await buffer.ReadUntilAsync("\r\n"u8.ToArray(), 8192, cancel) is { Length: > 2 })
                    {
                    }

                    return body.ToArray();
                }

                var chunk = await buffer.ReadExactlyAsync(size + 2, cancel);
                if (chunk is null)
                {
                    return null;
                }

                body.AddRange(chunk.AsSpan(0, size).ToArray());
            }
        }

        var length = headers.Where(h => h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Select(h => long.Parse(h.Value, System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        return length == 0 ? [] : await buffer.ReadExactlyAsync((int)length, cancel);
    }

    /// <summary>Reads a stream with look-ahead: up to a delimiter (included) or an exact count; null at end of stream.</summary>
    private sealed class Buffered(Stream stream)
    {
        private readonly byte[] _chunk = new byte[16 * 1024];
        private readonly List<byte> _pending = [];

        public async Task<byte[]?> ReadUntilAsync(byte[] delimiter, int limit, CancellationToken cancel)
        {
            while (true)
            {
                var at = IndexOf(delimiter);
                if (at >= 0)
                {
                    return Take(at + delimiter.Length);
                }

                if (_pending.Count > limit || !await FillAsync(cancel))
                {
                    return null;
                }
            }
        }

        public async Task<byte[]?> ReadExactlyAsync(int count, CancellationToken cancel)
        {
            while (_pending.Count < count)
            {
                if (!await FillAsync(cancel))
                {
                    return null;
                }
            }

            return Take(count);
        }

        private async Task<bool> FillAsync(CancellationToken cancel)
        {
            var read = await stream.ReadAsync(_chunk, cancel);
            _pending.AddRange(_chunk.AsSpan(0, read).ToArray());
            return read > 0;
        }

        private byte[] Take(int count)
        {
            var taken = _pending.GetRange(0, count).ToArray();
            _pending.RemoveRange(0, count);
            return taken;
        }

        private int IndexOf(byte[] delimiter)
        {
            for (var i = 0; i <= _pending.Count - delimiter.Length; i++)
            {
                var match = true;
                for (var j = 0; j < delimiter.Length && match; j++)
                {
                    match = _pending[i + j] == delimiter[j];
                }

                if (match)
                {
                    return i;
                }
            }

            return -1;
        }
    }
}
