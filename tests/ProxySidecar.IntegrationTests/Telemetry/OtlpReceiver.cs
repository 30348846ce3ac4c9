using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ProxySidecar.IntegrationTests.Telemetry;

/// <summary>
/// A minimal OTLP collector on 127.0.0.1:0. Over HTTP/1.1 (http/protobuf) it accepts POST /v1/traces,
/// /v1/metrics and /v1/logs; as a gRPC server (h2c) the three Export methods, kept under the same names.
/// Every non-empty body is kept and answered with an empty (valid) export response.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<byte[]>> _bodies = new(StringComparer.Ordinal);

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    public static async Task<OtlpReceiver> StartAsync(bool grpc = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = grpc ? HttpProtocols.Http2 : HttpProtocols.Http1));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        receiver.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return receiver;
    }

    /// <summary>Non-empty bodies received on <paramref name="path"/> (e.g. "/v1/traces").</summary>
    public IReadOnlyList<byte[]> Bodies(string path) => _bodies.TryGetValue(path, out var queue) ? queue.ToArray() : [];

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value switch
        {
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => "/v1/traces",
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => "/v1/metrics",
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => "/v1/logs",
            var other => other ?? "",
        };
        if (!HttpMethods.IsPost(context.Request.Method) || path is not ("/v1/traces" or "/v1/metrics" or "/v1/logs"))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
        if (buffer.Length > 0)
        {
            _bodies.GetOrAdd(path, _ => new ConcurrentQueue<byte[]>()).Enqueue(buffer.ToArray());
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true)
        {
            // One uncompressed, empty response message, then status OK in the trailers.
            context.Response.ContentType = "application/grpc";
            await context.Response.Body.WriteAsync(new byte[5], context.RequestAborted);
            context.Response.AppendTrailer("grpc-status", "0");
            return;
        }

        context.Response.ContentType = "application/x-protobuf";
    }
}
