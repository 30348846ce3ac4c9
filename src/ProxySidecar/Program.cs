using ProxySidecar;
using ProxySidecar.Tls;

// Before anything touches TLS: OpenSSL reads its configuration once, on first use.
OpenSslTlsPolicy.Apply();

return StartupFailure.Guard(() =>
{
    var builder = WebApplication.CreateBuilder(SidecarApplication.BuilderOptions(args));
    builder.AddProxySidecar();

    // Process-wide, so here and not in AddProxySidecar: the heap is bounded by configuration, not by the machine.
    ProxySidecar.Caching.HeapLimit.Apply(builder.Configuration);
    using var app = builder.Build();
    app.UseProxySidecar();
    app.Run();
});
