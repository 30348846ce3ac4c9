using Microsoft.Extensions.Options;
using ProxySidecar.Caching.Rules;

namespace ProxySidecar.Compression;

/// <summary>Collects every problem of <see cref="CompressionOptions"/>, each named by its key with a fix.</summary>
internal sealed class CompressionOptionsValidator : IValidateOptions<CompressionOptions>
{
    /// <summary>Largest MinimumBytes accepted (1 GiB): anything larger is never reached by a body the sidecar handles.</summary>
    internal const int MaxMinimumBytes = 1 << 30;

    public ValidateOptionsResult Validate(string? name, CompressionOptions options)
    {
        var errors = new List<string>();
        const string p = CompressionOptions.Section + ":";
        MinimumBytes(errors, p + "MinimumBytes", options.MinimumBytes);
        Level(errors, p + "StoredBrotliQuality", options.StoredBrotliQuality, 0, 11, "Brotli quality");
        Level(errors, p + "StreamingBrotliQuality", options.StreamingBrotliQuality, 0, 11, "Brotli quality");
        Level(errors, p + "StoredGzipLevel", options.StoredGzipLevel, 1, 9, "gzip level");
        Level(errors, p + "StreamingGzipLevel", options.StreamingGzipLevel, 1, 9, "gzip level");
        for (var i = 0; i < options.MimeTypes.Count; i++)
        {
            var type = options.MimeTypes[i];
            if (!MediaTypes.IsValidPattern(type))
            {
                errors.Add($"{p}MimeTypes:{i}: \"{type}\" is not a media type pattern. Use type/subtype, type/* or type/*+suffix, e.g. application/json, text/* or application/*+json.");
            }
            else if (MediaTypes.IsNever(MediaTypes.MediaTypeOf(type!)))
            {
                errors.Add($"{p}MimeTypes:{i}: \"{type}\" is never compressed (event streams are sent as they come; gRPC compresses its own messages). Remove it from the list.");
            }
        }

        for (var i = 0; i < options.Rules.Count; i++)
        {
            var rule = options.Rules[i];
            var prefix = $"{p}Rules:{i}:";
            if (string.IsNullOrEmpty(rule.Path) || rule.Path[0] != '/')
            {
                errors.Add($"{prefix}Path: \"{rule.Path}\" must start with '/', e.g. /static/** or /api/*/report.");
            }
            else
            {
                try
                {
                    Glob.CompilePath(rule.Path, rule.IgnoreCase);
                }
                catch (ArgumentException error)
                {
                    errors.Add($"{prefix}Path: \"{rule.Path}\" is not a valid pattern ({error.Message}). Use '*' within a segment and '**' across segments.");
                }
            }

            if (rule.MinimumBytes is { } minimum)
            {
                MinimumBytes(errors, prefix + "MinimumBytes", minimum);
            }

            if (rule.Enabled == false && rule.CompressWithCredentials == true)
            {
                errors.Add($"{prefix}Enabled: false, so CompressWithCredentials means nothing there. Remove one of them.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void MinimumBytes(List<string> errors, string key, int value)
    {
        if (value < 0 || value > MaxMinimumBytes)
        {
            errors.Add($"{key}: {value} is out of range. Use a number of bytes from 0 to 1073741824 (the default is 1024).");
        }
    }

    private static void Level(List<string> errors, string key, int value, int min, int max, string what)
    {
        if (value < min || value > max)
        {
            errors.Add($"{key}: {value} is not a {what}. Use {min} to {max}; bench/README.md shows what each costs.");
        }
    }
}
