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
            if (entry.Kind == RecordKind.Response)
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

    /// <summary>Serialises <paramref name="entry"/> and returns the decoded twin backed by the stored array.</summary>
    public static (byte[] Bytes, CacheEntry Entry) SerializeAndDecode(CacheEntry entry)
    {
        var bytes = Serialize(entry);
        var decoded = Deserialize(bytes) ?? throw new InvalidOperationException("A freshly written entry did not read back.");
        return (bytes, decoded);
    }

    /// <summary>Null when the bytes are not an entry of this version (treated as a miss).</summary>
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

        try
        {
            var entry = Read(bytes);
            Decoded.AddOrUpdate(bytes, entry);
            return entry;
        }
        catch (Exception error) when (error is EndOfStreamException or IOException or ArgumentException or FormatException)
        {
            return null;
        }
    }

    private static CacheEntry Read(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        stream.Position = 4;
        var kind = (RecordKind)reader.ReadByte();
        var vary = ReadArray(reader);
        if (kind == RecordKind.Vary)
        {
            return new CacheEntry { Kind = kind, VaryNames = vary };
        }

        if (kind != RecordKind.Response)
        {
            throw new FormatException("Unknown record kind.");
        }

        var primary = reader.ReadString();
        var variant = reader.ReadString();
        var status = reader.ReadInt32();
        var requestTime = reader.ReadInt64();
        var responseTime = reader.ReadInt64();
        var initialAge = reader.ReadInt64();
        var lifetime = reader.ReadInt64();
        var swr = reader.ReadInt64();
        var sie = reader.ReadInt64();
        var flags = reader.ReadInt32();
        var tags = ReadArray(reader);
        var headerCount = reader.ReadInt32();
        var headers = new KeyValuePair<string, StringValues>[headerCount];
        for (var i = 0; i < headerCount; i++)
        {
            var name = reader.ReadString();
            var count = reader.ReadInt32();
            var values = new string[count];
            for (var j = 0; j < count; j++)
            {
                values[j] = reader.ReadString();
            }

            headers[i] = new(name, new StringValues(values));
        }

        var bodyLength = reader.ReadInt32();
        var offset = (int)stream.Position;
        if (bodyLength < 0 || offset + bodyLength != bytes.Length)
        {
            throw new FormatException("Body length does not match.");
        }

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
            Body = new ReadOnlyMemory<byte>(bytes, offset, bodyLength),
        };
    }

    private static void WriteArray(BinaryWriter writer, string[] values)
    {
        writer.Write(values.Length);
        foreach (var value in values)
        {
            writer.Write(value);
        }
    }

    private static string[] ReadArray(BinaryReader reader)
    {
        var count = reader.ReadInt32();
        if (count is < 0 or > 4096)
        {
            throw new FormatException("Bad array length.");
        }

        var values = new string[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = reader.ReadString();
        }

        return values;
    }
}
