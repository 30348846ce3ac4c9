using ProxySidecar;
using ProxySidecar.Tls;

// Before anything touches TLS: OpenSSL reads its configuration once, on first use.
OpenSslTlsPolicy.Apply();

return StartupFailure.Guard(() =>
{
    var builder = WebApplication.CreateBuilder(SidecarApplication.BuilderOptions(args));
    builder.AddProxySidecar();
    using var app = builder.Build();
    app.UseProxySidecar();
    app.Run();
});
