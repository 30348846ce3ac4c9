using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.Primitives;

namespace ProxySidecar.Caching.Stores;

/// <summary>
/// The entry format (version 1): "PSC" + version byte + kind byte, then length-prefixed UTF-8 fields,
/// then the body bytes as the tail, so a decoded entry's body is a slice of the stored array (no copy).
/// Decoded entries are remembered per array instance: a store that hands back the same array (the memory
/// store does) costs one table lookup per hit instead of a parse.
/// </summary>
internal static class CacheEntrySerializer
{
    private const byte Version = 1;
    private static readonly ConditionalWeakTable<byte[], CacheEntry> Decoded = [];

    public static byte[] Serialize(CacheEntry entry)
    {
        using var stream = new MemoryStream(256 + entry.Body.Length);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write((byte)'P');
            writer.Write((byte)'S');
            writer.Write((byte)'C');
            writer.Write(Version);
            writer.Write((byte)entry.Kind);
            WriteArray(writer, entry.VaryNames);
            if (entry.Kind == RecordKind.Encoded)
            {
                writer.Write(entry.Primary);
                writer.Write(entry.VariantHash);
                writer.Write(entry.Coding);
                writer.Write(entry.SourceFingerprint);
                writer.Write(entry.SourceLength);
                writer.Write(entry.Body.Length);
            }
            else if (entry.Kind == RecordKind.Response)
            {
                writer.Write(entry.Primary);
                writer.Write(entry.VariantHash);
                writer.Write(entry.Status);
                writer.Write(entry.RequestTimeMs);
                writer.Write(entry.ResponseTimeMs);
                writer.Write(entry.CorrectedInitialAgeMs);
                writer.Write(entry.LifetimeMs);
                writer.Write(entry.StaleWhileRevalidateMs);
                writer.Write(entry.StaleIfErrorMs);
                writer.Write(entry.Flags);
                WriteArray(writer, entry.Tags);
                writer.Write(entry.Headers.Length);
                foreach (var (name, values) in entry.Headers)
                {
                    writer.Write(name);
                    writer.Write(values.Count);
                    foreach (var value in values)
                    {
                        writer.Write(value ?? string.Empty);
                    }
                }

                writer.Write(entry.Body.Length);
            }
        }

        stream.Write(entry.Body.Span);
        var bytes = stream.ToArray();
        return bytes;
    }

    /// <summary>
    /// The bytes the decoded twin of <paramref name="bytes"/> keeps alive beside the array (decoded now if it was not
    /// yet: a store that keeps the array will hand it to the cache, which decodes it; 0 when it is not an entry):
    /// the entry object, its arrays and every string of its headers, key, tags and derived keys. The body is a slice
    /// of the array and costs nothing more. A memory store charges this to the record.
    /// </summary>
    public static long DecodedFootprint(byte[] bytes)
    {
        if (Deserialize(bytes) is not { } entry)
        {
            return 0;
        }

        // The object and the derived hash and marker keys it builds on first use (three keys of ~40 characters each).
        long size = 200 + 400 + Strings(entry.VaryNames) + Strings(entry.Tags) + (2L * (entry.Primary.Length + entry.VariantHash.Length)) + 48
            + (2L * (entry.Coding.Length + entry.SourceFingerprint.Length));
        size += 24 + (24L * entry.Headers.Length);
        foreach (var (name, values) in entry.Headers)
        {
            size += 22 + (2L * name.Length) + 32;
            foreach (var value in values)
            {
                size += 22 + (2L * (value?.Length ?? 0));
            }
        }

        return size;

        static long Strings(string[] values)
        {
            long total = 24 + (8L * values.Length);
            foreach (var value in values)
            {
                total += 22 + (2L * value.Length);
            }

            return total;
        }
    }

    /// <summary>Serialises <paramref name="entry"/> and returns the decoded twin backed by the stored array.</summary>
    public static (byte[] Bytes, CacheEntry Entry) SerializeAndDecode(CacheEntry entry)
    {
        var bytes = Serialize(entry);
        var decoded = Deserialize(bytes) ?? throw new InvalidOperationException("A freshly written entry did not read back.");
        return (bytes, decoded);
    }

    /// <summary>
    /// Null when the bytes are not a well-formed entry of this version (treated as a miss). Stored bytes are
    /// untrusted (a shared store is written by other processes): every count and length is checked against the
    /// bytes present before anything is allocated, and header names and values must be what a response may carry.
    /// </summary>
    public static CacheEntry? Deserialize(byte[] bytes)
    {
        if (Decoded.TryGetValue(bytes, out var known))
        {
            return known;
        }

        if (bytes.Length < 5 || bytes[0] != 'P' || bytes[1] != 'S' || bytes[2] != 'C' || bytes[3] != Version)
        {
            return null;
        }

        CacheEntry entry;
        try
        {
            entry = Read(bytes);
        }
        catch (FormatException)
        {
            return null;
        }

        Decoded.AddOrUpdate(bytes, entry);
        return entry;
    }

    private static CacheEntry Read(byte[] bytes)
    {
        var reader = new Reader(bytes, 4);
        var kind = (RecordKind)reader.Byte();
        var vary = reader.Strings(MaxVaryNames);
        foreach (var name in vary)
        {
            Require(IsToken(name), "Bad Vary name.");
        }

        if (kind == RecordKind.Vary)
        {
            Require(reader.Remaining == 0, "Trailing bytes.");
            return new CacheEntry { Kind = kind, VaryNames = vary };
        }

        if (kind == RecordKind.Encoded)
        {
            return ReadEncoded(ref reader, bytes, vary);
        }

        Require(kind == RecordKind.Response, "Unknown record kind.");
        var primary = reader.String();
        var variant = reader.String();
        var status = reader.Int32();
        var requestTime = reader.Int64();
        var responseTime = reader.Int64();
        var initialAge = reader.Int64();
        var lifetime = reader.Int64();
        var swr = reader.Int64();
        var sie = reader.Int64();
        var flags = reader.Int32();
        Require(status is >= 100 and <= 999 && requestTime >= 0 && responseTime >= 0 && initialAge >= 0 && lifetime >= 0 && swr >= -1 && sie >= -1 && flags >= 0, "Field out of range.");
        var tags = reader.Strings(MaxTags);
        var headerCount = reader.Count(MaxHeaders, MinHeaderBytes);
        var headers = new KeyValuePair<string, StringValues>[headerCount];
        for (var i = 0; i < headerCount; i++)
        {
            var name = reader.String();
            Require(IsToken(name), "Bad header name.");
            var values = reader.Strings(MaxHeaders);
            foreach (var value in values)
            {
                Require(IsFieldValue(value), "Bad header value.");
            }

            headers[i] = new(name, new StringValues(values));
        }

        var bodyLength = reader.Int32();
        Require(bodyLength >= 0 && bodyLength == reader.Remaining, "Body length does not match.");
        return new CacheEntry
        {
            Kind = kind,
            VaryNames = vary,
            Primary = primary,
            VariantHash = variant,
            Status = status,
            RequestTimeMs = requestTime,
            ResponseTimeMs = responseTime,
            CorrectedInitialAgeMs = initialAge,
            LifetimeMs = lifetime,
            StaleWhileRevalidateMs = swr,
            StaleIfErrorMs = sie,
            Flags = flags,
            Tags = tags,
            Headers = headers,
            Body = new ReadOnlyMemory<byte>(bytes, reader.Position, bodyLength),
        };
    }

    /// <summary>
    /// A compressed representation: no Vary names, a coding the sidecar produces, a fingerprint as it writes them, and a
    /// body no longer than the one it was made from (empty: compressing did not make it smaller).
    /// </summary>
    private static CacheEntry ReadEncoded(ref Reader reader, byte[] bytes, string[] vary)
    {
        Require(vary.Length == 0, "Vary names on a representation.");
        var primary = reader.String();
        var variant = reader.String();
        var coding = reader.String();
        Require(coding is "br" or "gzip", "Unknown coding.");
        var fingerprint = reader.String();
        Require(fingerprint.Length == 32 && fingerprint.All(char.IsAsciiHexDigitLower), "Bad fingerprint.");
        var sourceLength = reader.Int64();
        var bodyLength = reader.Int32();
        Require(bodyLength >= 0 && bodyLength == reader.Remaining && sourceLength > 0 && bodyLength < sourceLength, "Body length does not match.");
        return new CacheEntry
        {
            Kind = RecordKind.Encoded,
            VaryNames = [],
            Primary = primary,
            VariantHash = variant,
            Coding = coding,
            SourceFingerprint = fingerprint,
            SourceLength = sourceLength,
            Body = new ReadOnlyMemory<byte>(bytes, reader.Position, bodyLength),
        };
    }

    private const int MaxVaryNames = 64;
    private const int MaxTags = 1024;
    private const int MaxHeaders = 1024;

    // A header is at least a one-byte name length, a one-character name and a four-byte value count.
    private const int MinHeaderBytes = 6;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static void Require(bool condition, string reason)
    {
        if (!condition)
        {
            throw new FormatException(reason);
        }
    }

    private static bool IsToken(string value)
    {
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return value.Length > 0;
    }

    /// <summary>What a field value may hold on the wire: no CR, LF or NUL (obs-text is kept).</summary>
    private static bool IsFieldValue(string value) => value.AsSpan().IndexOfAny('\r', '\n', '\0') < 0;

    /// <summary>Reads the BinaryWriter layout with every length checked against the bytes left.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data, int position)
    {
        private readonly ReadOnlySpan<byte> _data = data;

        public int Position { get; private set; } = position;

        public readonly int Remaining => _data.Length - Position;

        public byte Byte()
        {
            Require(Remaining >= 1, "Truncated.");
            return _data[Position++];
        }

        public int Int32()
        {
            Require(Remaining >= 4, "Truncated.");
            var value = BinaryPrimitives.ReadInt32LittleEndian(_data[Position..]);
            Position += 4;
            return value;
        }

        public long Int64()
        {
            Require(Remaining >= 8, "Truncated.");
            var value = BinaryPrimitives.ReadInt64LittleEndian(_data[Position..]);
            Position += 8;
            return value;
        }

        /// <summary>A count of items each at least <paramref name="minBytes"/> long, at most <paramref name="max"/>.</summary>
        public int Count(int max, int minBytes)
        {
            var count = Int32();
            Require(count >= 0 && count <= max && (long)count * minBytes <= Remaining, "Bad count.");
            return count;
        }

        public string[] Strings(int max)
        {
            // A string is at least its one-byte length.
            var values = new string[Count(max, 1)];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = String();
            }

            return values;
        }

        /// <summary>A 7-bit encoded length (at most five bytes) and that many bytes of strict UTF-8.</summary>
        public string String()
        {
            var length = 0;
            for (var shift = 0; ; shift += 7)
            {
                Require(shift < 35, "Bad string length.");
                var b = Byte();
                length |= (b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    break;
                }
            }

            Require(length >= 0 && length <= Remaining, "Bad string length.");
            string value;
            try
            {
                value = StrictUtf8.GetString(_data.Slice(Position, length));
            }
            catch (DecoderFallbackException error)
            {
                throw new FormatException("Bad UTF-8.", error);
            }

            Position += length;
            return value;
        }
    }

    private static void WriteArray(BinaryWriter writer, string[] values)
    {
        writer.Write(values.Length);
        foreach (var value in values)
        {
            writer.Write(value);
        }
    }
}
