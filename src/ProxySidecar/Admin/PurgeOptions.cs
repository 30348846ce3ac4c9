using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ProxySidecar.Admin;

/// <summary>Who may purge the cache. Without a token, purge is refused (403).</summary>
public sealed class PurgeOptions
{
    public const string Section = "Sidecar:Admin";

    /// <summary>The bearer token purge requests must present. Prefer <see cref="PurgeTokenFile"/> in Kubernetes.</summary>
    public string? PurgeToken { get; set; }

    /// <summary>A file holding the token (a mounted secret); re-read when it changes, so the secret can be rotated live.</summary>
    public string? PurgeTokenFile { get; set; }
}

internal sealed class PurgeOptionsValidator : IValidateOptions<PurgeOptions>
{
    internal const int MinimumTokenLength = 16;

    public ValidateOptionsResult Validate(string? name, PurgeOptions options)
    {
        var errors = new List<string>();
        const string p = PurgeOptions.Section + ":";
        var hasToken = !string.IsNullOrEmpty(options.PurgeToken);
        var hasFile = !string.IsNullOrEmpty(options.PurgeTokenFile);
        if (hasToken && hasFile)
        {
            errors.Add($"{p}PurgeToken and {p}PurgeTokenFile are both set. Keep one: the file (a mounted secret) is preferred.");
        }

        if (hasToken && options.PurgeToken!.Trim().Length < MinimumTokenLength)
        {
            errors.Add($"{p}PurgeToken: is shorter than {MinimumTokenLength} characters. Use a random token, e.g. `openssl rand -hex 32`.");
        }

        if (hasFile)
        {
            try
            {
                var token = PurgeTokenSource.ReadTokenFile(options.PurgeTokenFile!);
                if (token.Length < MinimumTokenLength)
                {
                    errors.Add($"{p}PurgeTokenFile: the token in {options.PurgeTokenFile} is shorter than {MinimumTokenLength} characters. Put a random token in it, e.g. `openssl rand -hex 32`.");
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add($"{p}PurgeTokenFile: {options.PurgeTokenFile} cannot be read ({ex.Message}). Mount the secret there or remove the setting.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>
/// The current purge token, as a SHA-256 hash (never kept or compared in clear). A token file is re-read
/// on each purge, so a rotated secret applies at once; a file that cannot be read keeps the last token
/// that could.
/// </summary>
internal sealed partial class PurgeTokenSource
{
    private readonly PurgeOptions _options;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private byte[]? _hash;

    public PurgeTokenSource(IOptions<PurgeOptions> options, ILogger<PurgeTokenSource> logger)
    {
        _options = options.Value;
        _logger = logger;
        if (!string.IsNullOrEmpty(_options.PurgeToken))
        {
            _hash = Hash(_options.PurgeToken.Trim());
        }
    }

    public bool IsConfigured => !string.IsNullOrEmpty(_options.PurgeToken) || !string.IsNullOrEmpty(_options.PurgeTokenFile);

    /// <summary>True when <paramref name="presented"/> is the configured token; constant time in the token's content.</summary>
    public bool Matches(string? presented)
    {
        var expected = CurrentHash();
        if (expected is null || presented is null)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Hash(presented), expected);
    }

    internal static string ReadTokenFile(string path) => File.ReadAllText(path).Trim();

    internal static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private byte[]? CurrentHash()
    {
        var path = _options.PurgeTokenFile;
        if (string.IsNullOrEmpty(path))
        {
            return _hash;
        }

        // Purges are rare: reading the file each time always sees the current secret, whatever way it was replaced.
        lock (_gate)
        {
            try
            {
                var token = ReadTokenFile(path);
                if (token.Length == 0)
                {
                    throw new IOException("the file is empty");
                }

                var hash = Hash(token);
                if (_hash is not null && !CryptographicOperations.FixedTimeEquals(hash, _hash))
                {
                    Log.TokenReloaded(_logger, path);
                }

                _hash = hash;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Log.TokenFileUnreadable(_logger, path, ex.Message);
            }

            return _hash;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(545, LogLevel.Information, "Purge token reloaded from {Path}.")]
        public static partial void TokenReloaded(ILogger logger, string path);

        [LoggerMessage(546, LogLevel.Error, "Purge token file {Path} cannot be read; keeping the last token read: {Reason}")]
        public static partial void TokenFileUnreadable(ILogger logger, string path, string reason);
    }
}
