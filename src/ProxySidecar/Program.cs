using ProxySidecar;

return StartupFailure.Guard(() =>
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddProxySidecar();
    var app = builder.Build();
    app.UseProxySidecar();
    app.Run();
});
