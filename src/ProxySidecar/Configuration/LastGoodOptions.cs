using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace ProxySidecar.Configuration;

/// <summary>
/// The last options value that validated, for every section that reloads live. <see cref="IOptionsMonitor{TOptions}.CurrentValue"/>
/// throws after a reload that does not validate (the monitor drops its cached value before validating the new one),
/// so readers on the request and probe paths use this instead: a bad reload keeps the last good value (and the mounted
/// file's change is rejected as a whole, event 12). Features that compile a section into an immutable snapshot
/// subscribe to <see cref="Changed"/>.
/// </summary>
internal sealed class LastGoodOptions<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions> : IDisposable
    where TOptions : class
{
    private readonly IDisposable? _subscription;
    private volatile TOptions _current;

    public LastGoodOptions(IOptionsMonitor<TOptions> monitor)
    {
        _current = monitor.CurrentValue;
        _subscription = monitor.OnChange((value, name) =>
        {
            if (name == Options.DefaultName)
            {
                _current = value;
                Changed?.Invoke(value);
            }
        });
    }

    /// <summary>Raised with each new value that validated, after <see cref="Current"/> has become it.</summary>
    public event Action<TOptions>? Changed;

    public TOptions Current => _current;

    /// <summary>Calls <paramref name="onChange"/> with each new value that validates, until the result is disposed.</summary>
    public IDisposable Subscribe(Action<TOptions> onChange)
    {
        Changed += onChange;
        return new Subscription(() => Changed -= onChange);
    }

    public void Dispose() => _subscription?.Dispose();

    private sealed class Subscription(Action remove) : IDisposable
    {
        private Action? _remove = remove;

        public void Dispose() => Interlocked.Exchange(ref _remove, null)?.Invoke();
    }
}
