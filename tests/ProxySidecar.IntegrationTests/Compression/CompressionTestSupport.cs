using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace ProxySidecar.IntegrationTests.Compression;

/// <summary>Pages, app handlers and decoding for the compression tests.</summary>
internal static class CompressionTestSupport
{
    /// <summary>About 6 KiB of HTML that compresses well.</summary>
    public static readonly string Page = string.Concat(Enumerable.Range(0, 120).Select(i => $"<li class=\"item\">Item number {i % 7} of the list</li>\n"));

    public static void AcceptBrotliAndGzip(HttpRequestMessage request) => request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate, br");

    public static Action<HttpRequestMessage> Accept(string acceptEncoding, Action<HttpRequestMessage>? more = null) => request =>
    {
        request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
        more?.Invoke(request);
    };

    /// <summary>An app handler answering <paramref name="body"/> as <paramref name="contentType"/> with the given headers; counts its calls.</summary>
    public static RequestDelegate Serve(string body, string contentType = "text/html; charset=utf-8", params (string Name, string Value)[] headers) => async context =>
    {
        context.Response.ContentType = contentType;
        foreach (var (name, value) in headers)
        {
            context.Response.Headers.Append(name, value);
        }

        var bytes = Encoding.UTF8.GetBytes(body);
        context.Response.ContentLength = bytes.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(bytes);
        }
    };

    /// <summary>The body as sent, decoded by its Content-Encoding.</summary>
    public static string Decoded(this HttpResponseMessage response)
    {
        var bytes = response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(Decode(bytes, response.Coding()));
    }

    public static byte[] Decode(byte[] bytes, string? coding)
    {
        using Stream decoder = coding switch
        {
            "br" => new BrotliStream(new MemoryStream(bytes), CompressionMode.Decompress),
            "gzip" => new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress),
            null => new MemoryStream(bytes),
            _ => throw new InvalidOperationException("Unexpected coding " + coding),
        };
        using var output = new MemoryStream();
        decoder.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>The Content-Encoding, or null when there is none.</summary>
    public static string? Coding(this HttpResponseMessage response) =>
        response.Content.Headers.ContentEncoding.Count == 0 ? null : string.Join(",", response.Content.Headers.ContentEncoding);

    public static string VaryText(this HttpResponseMessage response) => string.Join(", ", response.Headers.Vary);

    public static long? Length(this HttpResponseMessage response) => response.Content.Headers.ContentLength;

    public static long BodyLength(this HttpResponseMessage response) => response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult().LongLength;

    public static EntityTagHeaderValue? Tag(this HttpResponseMessage response) => response.Headers.ETag;
}
