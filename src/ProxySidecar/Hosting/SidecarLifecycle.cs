namespace ProxySidecar.Hosting;

internal enum SidecarState
{
    Starting,
    Ready,
    Draining,
}

/// <summary>The process's lifecycle as probes and /status see it.</summary>
internal sealed class SidecarLifecycle
{
    private readonly TimeProvider _time;
    private int _state = (int)SidecarState.Starting;

    public SidecarLifecycle(TimeProvider time)
    {
        _time = time;
        StartedAt = time.GetUtcNow();
    }

    public DateTimeOffset StartedAt { get; }

    public SidecarState State => (SidecarState)Volatile.Read(ref _state);

    public TimeSpan Uptime => _time.GetUtcNow() - StartedAt;

    public void MarkReady() => Interlocked.CompareExchange(ref _state, (int)SidecarState.Ready, (int)SidecarState.Starting);

    public void MarkDraining() => Volatile.Write(ref _state, (int)SidecarState.Draining);
}

/// <summary>
/// Moves the lifecycle to ready when the listeners are up and to draining the moment shutdown starts;
/// then holds the listeners open for <see cref="HostingOptions.ShutdownDelay"/> so load balancers
/// see readiness fail before connections are refused.
/// </summary>
internal sealed partial class LifecycleService(
    SidecarLifecycle lifecycle,
    IHostApplicationLifetime lifetime,
    Microsoft.Extensions.Options.IOptions<HostingOptions> options,
    TimeProvider time,
    ILogger<LifecycleService> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            lifecycle.MarkReady();
            Log.Ready(logger);
        });
        lifetime.ApplicationStopping.Register(() =>
        {
            lifecycle.MarkDraining();
            Log.Draining(logger, options.Value.ShutdownDelay, options.Value.DrainTimeout);
        });
        return Task.CompletedTask;
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        lifecycle.MarkDraining();
        var delay = options.Value.ShutdownDelay;
        if (delay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The host's shutdown timeout ran out first; stop now.
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(101, LogLevel.Information, "ProxySidecar is serving.")]
        public static partial void Ready(ILogger logger);

        [LoggerMessage(102, LogLevel.Information, "Shutdown requested: readiness is now 503; listeners stay open for {ShutdownDelay}, in-flight requests get up to {DrainTimeout}.")]
        public static partial void Draining(ILogger logger, TimeSpan shutdownDelay, TimeSpan drainTimeout);
    }
}
