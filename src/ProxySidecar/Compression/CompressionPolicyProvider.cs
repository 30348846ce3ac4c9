using Microsoft.Extensions.Options;

namespace ProxySidecar.Compression;

/// <summary>
/// Compiles <c>Sidecar:Compression</c> into a <see cref="CompressionPolicy"/> and swaps it on every reload that
/// validates. The options are bound and validated by the options system: the first load fails start-up naming every
/// bad key; a later change that does not validate never reaches <see cref="IOptionsMonitor{TOptions}.OnChange"/> (the
/// mounted file's change is rejected as a whole, event 12), so the last good policy stays.
/// </summary>
internal sealed class CompressionPolicyProvider : IDisposable
{
    private readonly ILogger<CompressionPolicyProvider> _logger;
    private readonly TimeProvider _time;
    private readonly IDisposable? _subscription;
    private CompressionPolicy _current;

    public CompressionPolicyProvider(IOptionsMonitor<CompressionOptions> options, TimeProvider time, ILogger<CompressionPolicyProvider> logger)
    {
        _logger = logger;
        _time = time;
        _current = new CompressionPolicy(options.CurrentValue);
        _subscription = options.OnChange((value, name) =>
        {
            if (name == Options.DefaultName)
            {
                Reload(value);
            }
        });
    }

    /// <summary>The live policy; one volatile read.</summary>
    public CompressionPolicy Current => Volatile.Read(ref _current);

    /// <summary>When the settings last changed (null: as at start).</summary>
    public DateTimeOffset? LastReload { get; private set; }

    public void Dispose() => _subscription?.Dispose();

    internal void Reload(CompressionOptions options)
    {
        CompressionPolicy next;
        try
        {
            next = new CompressionPolicy(options);
        }
        catch (ArgumentException error)
        {
            // Validated values always compile; keep the last good policy if one ever does not.
            CompressionLog.Rejected(_logger, error.Message);
            return;
        }

        // A rejected change puts the last good values back, which announces them again: nothing changed then.
        if (next.Settings == Current.Settings)
        {
            return;
        }

        Volatile.Write(ref _current, next);
        LastReload = _time.GetUtcNow();
        CompressionLog.Reloaded(_logger, next.Enabled, next.Rules.Length);
    }
}
