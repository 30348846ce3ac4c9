using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace ProxySidecar.Logging;

/// <summary>
/// Formats one access-log entry as a JSON line, byte for byte what <see cref="Utf8JsonWriter"/> with its default
/// encoder writes for the same shape (the shape of every other console log line), without its per-call work: the
/// fixed parts are constants, numbers and the timestamp are written as digits, and a string is copied as it is when
/// every character is one the encoder leaves alone. A string with any other character (a quote, a backslash, a control
/// character, an HTML-sensitive one or anything beyond ASCII) is escaped by <see cref="JsonEncodedText"/>, the
/// encoder's own escaping, so a hostile path can never break out of its JSON string.
/// </summary>
internal static class AccessLogFormat
{
    /// <summary>
    /// More than the line's fixed parts, numbers, identifiers and client address can take (the names and constants
    /// ~300 bytes, the message's own text and numbers at most <see cref="MessageExtraChars"/>); the strings come on top.
    /// </summary>
    private const int FixedBytes = 1024;

    /// <summary>What the message adds to its strings: separators, units, numbers and the client address.</summary>
    private const int MessageExtraChars = 256;

    /// <summary>Formats one entry as a JSON line (with its trailing newline).</summary>
    public static void Format(in AccessLogEntry entry, IBufferWriter<byte> output)
    {
        // Every string escaped takes at most 6 bytes a character (\uXXXX). The path is written three times (the
        // message, State, the request scope); method, protocol and cache result twice (the message and State).
        var stringChars = (2 * (entry.Method.Length + entry.Protocol.Length + entry.CacheResult.Length))
            + (3 * entry.Path.Length) + entry.ConnectionId.Length + entry.RequestId.Length;
        var line = new Line(output, FixedBytes + (6 * stringChars));
        line.Write("{\"Timestamp\":\""u8);
        line.WriteTimestamp(entry.Timestamp.UtcDateTime);
        line.Write("\",\"EventId\":1,\"LogLevel\":\"Information\",\"Category\":\"ProxySidecar.AccessLog\",\"Message\":"u8);
        WriteMessage(ref line, entry);
        line.Write(",\"State\":{\"Method\":"u8);
        line.WriteString(entry.Method);
        line.Write(",\"Path\":"u8);
        line.WriteString(entry.Path);
        line.Write(",\"Protocol\":"u8);
        line.WriteString(entry.Protocol);
        line.Write(",\"Status\":"u8);
        line.WriteNumber(entry.Status);
        line.Write(",\"DurationMs\":"u8);
        line.WriteNumber(entry.DurationMs);
        line.Write(",\"Bytes\":"u8);
        line.WriteNumber(entry.Bytes);
        line.Write(",\"CacheResult\":"u8);
        line.WriteString(entry.CacheResult);
        line.Write(",\"Client\":\""u8);
        line.WriteClient(entry);
        line.Write("\"},\"Scopes\":["u8);
        if (entry.TraceId != default)
        {
            // The identifiers keep their hex text: no formatting, no allocation.
            line.Write("{\"SpanId\":"u8);
            line.WriteString(entry.SpanId.ToHexString());
            line.Write(",\"TraceId\":"u8);
            line.WriteString(entry.TraceId.ToHexString());
            line.Write("},"u8);
        }

        line.Write("{\"ConnectionId\":"u8);
        line.WriteString(entry.ConnectionId);
        line.Write("},{\"RequestPath\":"u8);
        line.WriteString(entry.Path);
        line.Write(",\"RequestId\":"u8);
        line.WriteString(entry.RequestId);
        line.Write("}]}\n"u8);
        line.Commit();
    }

    /// <summary>"{Method} {Path} {Protocol} {Status} {DurationMs}ms {Bytes}B cache={CacheResult} client={Client}".</summary>
    private static void WriteMessage(ref Line line, in AccessLogEntry entry)
    {
        var length = entry.Method.Length + entry.Path.Length + entry.Protocol.Length + entry.CacheResult.Length + MessageExtraChars;
        char[]? rented = null;
        var message = length <= 512 ? stackalloc char[length] : (rented = ArrayPool<char>.Shared.Rent(length));
        try
        {
            var at = 0;
            Append(message, ref at, entry.Method);
            message[at++] = ' ';
            Append(message, ref at, entry.Path);
            message[at++] = ' ';
            Append(message, ref at, entry.Protocol);
            message[at++] = ' ';
            entry.Status.TryFormat(message[at..], out var n, provider: CultureInfo.InvariantCulture);
            at += n;
            message[at++] = ' ';
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
                message[at++] = '-';
            }

            line.WriteString(message[..at]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    private static void Append(Span<char> destination, ref int at, string value)
    {
        value.CopyTo(destination[at..]);
        at += value.Length;
    }

    /// <summary>
    /// True for the characters the default JSON encoder writes as they are: printable ASCII but for <c>"</c>, <c>\</c>
    /// and the HTML-sensitive <c>&amp; ' + &lt; &gt; `</c>.
    /// </summary>
    internal static bool IsPlain(char c) => c is >= ' ' and <= '~' and not ('"' or '\\' or '&' or '\'' or '+' or '<' or '>' or '`');

    /// <summary>The line being written, straight into the output's buffer.</summary>
    private ref struct Line(IBufferWriter<byte> output, int sizeHint)
    {
        private readonly IBufferWriter<byte> _output = output;
        private readonly Span<byte> _buffer = output.GetSpan(sizeHint);
        private int _at;

        public void Write(scoped ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_buffer[_at..]);
            _at += bytes.Length;
        }

        /// <summary>A JSON string, quotes included.</summary>
        public void WriteString(scoped ReadOnlySpan<char> value)
        {
            _buffer[_at++] = (byte)'"';
            var plain = true;
            foreach (var c in value)
            {
                if (!IsPlain(c))
                {
                    plain = false;
                    break;
                }
            }

            if (plain)
            {
                // Every character is ASCII: one byte each.
                for (var i = 0; i < value.Length; i++)
                {
                    _buffer[_at + i] = (byte)value[i];
                }

                _at += value.Length;
            }
            else
            {
                Write(JsonEncodedText.Encode(value).EncodedUtf8Bytes);
            }

            _buffer[_at++] = (byte)'"';
        }

        public void WriteNumber(long value)
        {
            value.TryFormat(_buffer[_at..], out var written, provider: CultureInfo.InvariantCulture);
            _at += written;
        }

        public void WriteNumber(double value)
        {
            value.TryFormat(_buffer[_at..], out var written, provider: CultureInfo.InvariantCulture);
            _at += written;
        }

        /// <summary>yyyy-MM-ddTHH:mm:ss.fffZ</summary>
        public void WriteTimestamp(DateTime utc)
        {
            WriteDigits(utc.Year, 4);
            _buffer[_at++] = (byte)'-';
            WriteDigits(utc.Month, 2);
            _buffer[_at++] = (byte)'-';
            WriteDigits(utc.Day, 2);
            _buffer[_at++] = (byte)'T';
            WriteDigits(utc.Hour, 2);
            _buffer[_at++] = (byte)':';
            WriteDigits(utc.Minute, 2);
            _buffer[_at++] = (byte)':';
            WriteDigits(utc.Second, 2);
            _buffer[_at++] = (byte)'.';
            WriteDigits(utc.Millisecond, 3);
            _buffer[_at++] = (byte)'Z';
        }

        /// <summary>The client's address as text (only digits, hex, '.', ':' and '%'), or "-".</summary>
        public void WriteClient(in AccessLogEntry entry)
        {
            if (entry.Client is { } client && client.TryFormat(_buffer[_at..], out var written))
            {
                _at += written;
            }
            else
            {
                _buffer[_at++] = (byte)'-';
            }
        }

        public readonly void Commit() => _output.Advance(_at);

        private void WriteDigits(int value, int width)
        {
            for (var i = width - 1; i >= 0; i--)
            {
                _buffer[_at + i] = (byte)('0' + (value % 10));
                value /= 10;
            }

            _at += width;
        }
    }
}
