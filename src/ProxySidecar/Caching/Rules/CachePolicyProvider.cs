using ProxySidecar.Configuration;

namespace ProxySidecar.Caching.Rules;

/// <summary>
/// Compiles <c>Sidecar:Cache</c> (bound and validated by the options system, like every section) into a
/// <see cref="CachePolicy"/> and swaps it on every change that validates: the first load fails start-up naming every
/// bad key; a later change that does not validate is rejected as a whole (the mounted file's change, event 12) and the
/// last good policy stays.
/// </summary>
internal sealed class CachePolicyProvider : IDisposable
{
    private readonly ILogger<CachePolicyProvider> _logger;
    private readonly IDisposable _subscription;
    private CachePolicy _current;

    public CachePolicyProvider(LastGoodOptions<CacheOptions> options, ILogger<CachePolicyProvider> logger)
    {
        _logger = logger;
        _current = new CachePolicy(options.Current);
        _subscription = options.Subscribe(Reload);
    }

    /// <summary>The live policy; one volatile read.</summary>
    public CachePolicy Current => Volatile.Read(ref _current);

    public void Dispose() => _subscription.Dispose();

    private void Reload(CacheOptions options)
    {
        var next = new CachePolicy(options);

        // A rejected change puts the last good values back, which announces them again: nothing changed then.
        if (next.Fingerprint == Current.Fingerprint)
        {
            return;
        }

        Volatile.Write(ref _current, next);
        CacheLog.RulesReloaded(_logger, next.Rules.Length, next.Enabled);
    }
}
