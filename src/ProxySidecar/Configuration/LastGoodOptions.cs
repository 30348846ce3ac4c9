using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;

namespace ProxySidecar.Configuration;

/// <summary>
/// The last options value that validated. <see cref="IOptionsMonitor{TOptions}.CurrentValue"/> throws
/// after a reload that does not validate (the monitor drops its cached value before validating the new
/// one), so readers on the request and probe paths use this instead: a bad reload keeps the last good value.
/// </summary>
internal sealed class LastGoodOptions<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions> : IDisposable
    where TOptions : class
{
    private readonly IDisposable? _subscription;
    private volatile TOptions _current;

    public LastGoodOptions(IOptionsMonitor<TOptions> monitor)
    {
        _current = monitor.CurrentValue;
        _subscription = monitor.OnChange(value => _current = value);
    }

    public TOptions Current => _current;

    public void Dispose() => _subscription?.Dispose();
}
