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

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>What the app received.</summary>
public sealed record ReceivedRequest(
    string Method,
    string Path,
    string QueryString,
    string Protocol,
    IReadOnlyDictionary<string, string[]> Headers,
    byte[] Body)
{
    public string? Header(string name) =>
        Headers.TryGetValue(name, out var values) ? string.Join(", ", values) : null;
}

/// <summary>
/// A real app on 127.0.0.1:0 that records every request it receives. By default it answers 200 with
/// "upstream:{path}"; tests install their own handler for a path or for everything.
/// </summary>
public sealed class TestUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, RequestDelegate> _handlers = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();
    private int _count;

    private TestUpstream(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    /// <summary>Requests received, in arrival order.</summary>
    public IReadOnlyList<ReceivedRequest> Received => _received.ToArray();

    public int Count => Volatile.Read(ref _count);

    /// <summary>Handler for requests no path handler matches; null means the default echo.</summary>
    public RequestDelegate? Fallback { get; set; }

    /// <summary>Starts the app; <paramref name="http2Only"/> serves h2c (prior knowledge), as gRPC apps do.</summary>
    public static async Task<TestUpstream> StartAsync(bool http2Only = false, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port, l => l.Protocols = http2Only ? HttpProtocols.Http2 : HttpProtocols.Http1);
            k.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        var upstream = new TestUpstream(app);
        app.UseWebSockets();
        app.Run(upstream.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        upstream.Address = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        return upstream;
    }

    /// <summary>Installs a handler for one exact path.</summary>
    public void Map(string path, RequestDelegate handler) => _handlers[path] = handler;

    public void Reset()
    {
        _received.Clear();
        Interlocked.Exchange(ref _count, 0);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private async Task HandleAsync(HttpContext context)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? string.Empty).ToArray(), StringComparer.OrdinalIgnoreCase);
            _received.Enqueue(new ReceivedRequest(context.Request.Method, context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "", context.Request.Protocol, headers, buffer.ToArray()));
            context.Request.Body = new MemoryStream(buffer.ToArray());
        }
        else
        {
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? string.Empty).ToArray(), StringComparer.OrdinalIgnoreCase);
            _received.Enqueue(new ReceivedRequest(context.Request.Method, context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "", context.Request.Protocol, headers, []));
        }

        Interlocked.Increment(ref _count);
        if (_handlers.TryGetValue(context.Request.Path.Value ?? "", out var handler))
        {
            await handler(context);
            return;
        }

        if (Fallback is { } fallback)
        {
            await fallback(context);
            return;
        }

        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync("upstream:" + context.Request.Path.Value);
    }
}
