using System.Buffers.Binary;
using System.Text;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// What the shared store keeps per entry: the cache's own bytes wrapped with the entry's tags and expiry,
/// so that a replica reading an entry another replica wrote knows how long it may keep it in memory
/// and which purges must remove it there.
/// Layout: "PS" 0x01 | expires-at (Unix ms, int64 LE) | tag count (uint16 LE) | per tag: length (uint16 LE) + UTF-8 | payload.
/// </summary>
internal static class SharedEntryFormat
{
    private const byte Magic1 = (byte)'P';
    private const byte Magic2 = (byte)'S';
    private const byte Version = 1;
    private const int FixedHeader = 3 + 8 + 2;

    public static byte[] Write(ReadOnlySpan<byte> payload, IReadOnlyList<string> tags, DateTimeOffset expiresAt)
    {
        if (tags.Count > ushort.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(tags), "Too many tags on one entry.");
        }

        var length = FixedHeader + payload.Length;
        foreach (var tag in tags)
        {
            length += 2 + Encoding.UTF8.GetByteCount(tag);
        }

        var buffer = new byte[length];
        var span = buffer.AsSpan();
        span[0] = Magic1;
        span[1] = Magic2;
        span[2] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(span[3..], expiresAt.ToUnixTimeMilliseconds());
        BinaryPrimitives.WriteUInt16LittleEndian(span[11..], (ushort)tags.Count);
        var offset = FixedHeader;
        foreach (var tag in tags)
        {
            var written = Encoding.UTF8.GetBytes(tag, span[(offset + 2)..]);
            if (written > ushort.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(tags), "A tag is longer than 65535 bytes.");
            }

            BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], (ushort)written);
            offset += 2 + written;
        }

        payload.CopyTo(span[offset..]);
        return buffer;
    }

    public static bool TryRead(byte[] stored, out DateTimeOffset expiresAt, out string[] tags, out byte[] payload)
    {
        expiresAt = default;
        tags = [];
        payload = [];
        var span = stored.AsSpan();
        if (span.Length < FixedHeader || span[0] != Magic1 || span[1] != Magic2 || span[2] != Version)
        {
            return false;
        }

        var unixMs = BinaryPrimitives.ReadInt64LittleEndian(span[3..]);
        if (unixMs < 0 || unixMs > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            return false;
        }

        var count = BinaryPrimitives.ReadUInt16LittleEndian(span[11..]);
        var offset = FixedHeader;
        var read = new string[count];
        for (var i = 0; i < count; i++)
        {
            if (offset + 2 > span.Length)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
            offset += 2;
            if (offset + length > span.Length)
            {
                return false;
            }

            read[i] = Encoding.UTF8.GetString(span.Slice(offset, length));
            offset += length;
        }

        expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
        tags = read;
        payload = span[offset..].ToArray();
        return true;
    }
}
