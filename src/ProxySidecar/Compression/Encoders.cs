using System.IO.Compression;

namespace ProxySidecar.Compression;

/// <summary>
/// The framework's encoders (System.IO.Compression): <see cref="BrotliEncoder"/> in one shot for what the cache stores,
/// <see cref="BrotliStream"/> and <see cref="GZipStream"/> for responses compressed as they stream, at the levels the
/// settings give.
/// </summary>
internal static class Encoders
{
    /// <summary>
    /// <paramref name="source"/> compressed whole. The Brotli window is sized to the input (at most 4 MiB), so a small body
    /// does not make the encoder reserve a large one.
    /// </summary>
    public static byte[] Compress(ReadOnlySpan<byte> source, ContentCoding coding, int level)
    {
        switch (coding)
        {
            case ContentCoding.Brotli:
            {
                var window = Math.Clamp(64 - (int)ulong.LeadingZeroCount((ulong)Math.Max(1, source.Length - 1)), 10, 22);
                var destination = new byte[BrotliEncoder.GetMaxCompressedLength(source.Length)];
                if (!BrotliEncoder.TryCompress(source, destination, out var written, level, window))
                {
                    throw new InvalidOperationException("Brotli compression did not fit its maximal length.");
                }

                return destination.AsSpan(0, written).ToArray();
            }

            case ContentCoding.Gzip:
            {
                using var output = new MemoryStream(Math.Max(256, source.Length / 3));
                using (var gzip = new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true))
                {
                    gzip.Write(source);
                }

                return output.ToArray();
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(coding), coding, "Not a compressing coding.");
        }
    }

    /// <summary>A stream that compresses what is written into <paramref name="output"/> (left open); flushing it emits what it holds.</summary>
    public static Stream CreateStream(Stream output, ContentCoding coding, int level) => coding switch
    {
        ContentCoding.Brotli => new BrotliStream(output, new BrotliCompressionOptions { Quality = level }, leaveOpen: true),
        ContentCoding.Gzip => new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(coding), coding, "Not a compressing coding."),
    };
}
