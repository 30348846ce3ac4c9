namespace ProxySidecar.Hosting;

/// <summary>
/// Runs a first load (the server certificate, the client CA bundle) before any listener starts, so a
/// failure stops start-up with the setting named instead of failing handshakes later.
/// </summary>
internal sealed class LoadBeforeListening(Action load) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        load();
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
