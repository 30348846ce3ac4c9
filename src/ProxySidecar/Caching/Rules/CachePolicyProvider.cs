using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace ProxySidecar.Caching.Rules;

/// <summary>
/// Binds, validates and compiles <c>Sidecar:Cache</c> into a <see cref="CachePolicy"/>. The first load
/// throws <see cref="OptionsValidationException"/> naming every bad key (start-up fails); later reloads
/// that do not validate are logged and the last good policy stays.
/// </summary>
internal sealed class CachePolicyProvider : IDisposable
{
    private readonly IConfiguration _configuration;
    private readonly IValidateOptions<CacheOptions> _validator;
    private readonly ILogger<CachePolicyProvider> _logger;
    private readonly IDisposable _subscription;
    private CachePolicy _current;
    private string? _lastRejected;

    public CachePolicyProvider(IConfiguration configuration, IValidateOptions<CacheOptions> validator, ILogger<CachePolicyProvider> logger)
    {
        _configuration = configuration;
        _validator = validator;
        _logger = logger;
        _current = Build(out var errors) ?? throw new OptionsValidationException(CacheOptions.Section, typeof(CacheOptions), errors);
        _subscription = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
    }

    /// <summary>The live policy; one volatile read.</summary>
    public CachePolicy Current => Volatile.Read(ref _current);

    public void Dispose() => _subscription.Dispose();

    internal void Reload()
    {
        CachePolicy? next;
        IReadOnlyList<string> errors;
        try
        {
            next = Build(out errors);
        }
        catch (InvalidOperationException error)
        {
            next = null;
            errors = [error.Message];
        }

        if (next is null)
        {
            var joined = string.Join(" ", errors);
            if (joined != _lastRejected)
            {
                _lastRejected = joined;
                CacheLog.RulesRejected(_logger, joined);
            }

            return;
        }

        _lastRejected = null;
        Volatile.Write(ref _current, next);
        CacheLog.RulesReloaded(_logger, next.Rules.Length, next.Enabled);
    }

    private CachePolicy? Build(out IReadOnlyList<string> errors)
    {
        var options = new CacheOptions();
        _configuration.GetSection(CacheOptions.Section).Bind(options);
        var result = _validator.Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            errors = [.. result.Failures];
            return null;
        }

        errors = [];
        return new CachePolicy(options);
    }
}
