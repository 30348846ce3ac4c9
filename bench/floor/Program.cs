// The framework floor for bench/: HTTPS on Kestrel (the sidecar's certificate files and port settings),
// YARP forwarding every request to Sidecar:Upstream:Address, and with Sidecar:Cache:Enabled=true the stock
// OutputCaching middleware caching every GET for 60 s. No logging, telemetry, RFC 9111 logic or admin listener.
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Configuration;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var config = builder.Configuration;
var port = config.GetValue<int>("Sidecar:Hosting:HttpsPort");
var upstream = config["Sidecar:Upstream:Address"] ?? "http://127.0.0.1:8080";
var cache = config.GetValue<bool>("Sidecar:Cache:Enabled");
var certificate = X509Certificate2.CreateFromPemFile(config["Sidecar:Tls:CertificatePath"]!, config["Sidecar:Tls:KeyPath"]!);

builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen =>
{
    listen.Protocols = HttpProtocols.Http1AndHttp2;
    listen.UseHttps(certificate);
}));
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "all", ClusterId = "app", Match = new RouteMatch { Path = "{**catch-all}" } }],
    [new ClusterConfig { ClusterId = "app", Destinations = new Dictionary<string, DestinationConfig> { ["app"] = new() { Address = upstream } } }]);
if (cache)
{
    builder.Services.AddOutputCache(o => o.AddBasePolicy(p => p.Expire(TimeSpan.FromSeconds(60))));
}

var app = builder.Build();
if (cache)
{
    app.UseOutputCache();
}

app.MapReverseProxy();
app.Run();
