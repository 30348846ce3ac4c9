using ProxySidecar;
using ProxySidecar.Caching;
using ProxySidecar.Tls;

// Before anything touches TLS: OpenSSL reads its configuration once, on first use.
OpenSslTlsPolicy.Apply();

// Run as the process, a start-up problem is a readable message and exit code 2, and the heap is bounded by
// configuration. Called by another program in its own process (a test host's WebApplicationFactory), the exception goes
// to the caller, and the heap it shares is left alone.
var ownsProcess = System.Reflection.Assembly.GetEntryAssembly() == typeof(Program).Assembly;
if (!ownsProcess)
{
    Run();
    return 0;
}

return StartupFailure.Guard(Run);

void Run()
{
    var builder = WebApplication.CreateBuilder(SidecarApplication.BuilderOptions(args));
    builder.AddProxySidecar();
    var app = builder.Build();

    // The caller that runs this entry point in its own process stops and disposes the host it was handed, and must
    // still reach it when start-up fails here.
    using var owned = ownsProcess ? app : null;
    app.UseProxySidecar();

    // Process-wide, so here and not in UseProxySidecar: the heap is bounded by configuration, not by the machine.
    if (ownsProcess)
    {
        HeapLimit.Apply(app.Services);
    }

    app.Run();
}
