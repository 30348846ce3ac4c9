using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ProxySidecar.Limits;

namespace ProxySidecar.Tests.Limits;

/// <summary>An options monitor a test changes, calling the listeners as a reload that validated would.</summary>
internal sealed class ChangingOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    private readonly List<Action<T, string?>> _listeners = [];

    public T CurrentValue { get; private set; } = value;

    public T Get(string? name) => CurrentValue;

    public IDisposable? OnChange(Action<T, string?> listener)
    {
        _listeners.Add(listener);
        return null;
    }

    public void Set(T next)
    {
        CurrentValue = next;
        foreach (var listener in _listeners)
        {
            listener(next, Options.DefaultName);
        }
    }
}

internal static class LimitsTestSupport
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public static LimitsMetrics Metrics() => new(Services.GetRequiredService<IMeterFactory>());

    public static LimitsPolicyProvider Provider(ChangingOptionsMonitor<LimitsOptions> options, TimeProvider? time = null) =>
        new(options, time ?? TimeProvider.System, Metrics(), NullLogger<LimitsPolicyProvider>.Instance);

    public static LimitsOptions WithRules(params RateLimitRuleOptions[] rules)
    {
        var options = new LimitsOptions();
        foreach (var rule in rules)
        {
            options.Rules.Add(rule);
        }

        return options;
    }
}
