namespace ProxySidecar.Hosting;

/// <summary>A first load (the server certificate, the client CA bundle) that must succeed before any listener starts.</summary>
internal sealed class StartupLoad(Action load)
{
    public Action Load { get; } = load;
}

/// <summary>
/// Runs every <see cref="StartupLoad"/> once, before any listener starts, so a failure stops start-up with the
/// setting named instead of failing handshakes later. The start-up checks run them first (so that their failures
/// are reported with every other start-up problem); the host's start runs whatever has not run yet.
/// </summary>
internal sealed class LoadBeforeListening(IEnumerable<StartupLoad> loads) : IHostedLifecycleService
{
    private int _ran;

    /// <summary>Runs every load once; the failures, each one a start-up problem. Later calls return nothing.</summary>
    public IReadOnlyList<Exception> Run()
    {
        if (Interlocked.Exchange(ref _ran, 1) == 1)
        {
            return [];
        }

        var failures = new List<Exception>();
        foreach (var load in loads)
        {
            try
            {
                load.Load();
            }
            catch (SidecarStartupException error)
            {
                failures.Add(error);
            }
        }

        return failures;
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        var failures = Run();
        return failures.Count switch
        {
            0 => Task.CompletedTask,
            1 => Task.FromException(failures[0]),
            _ => Task.FromException(new AggregateException(failures)),
        };
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
