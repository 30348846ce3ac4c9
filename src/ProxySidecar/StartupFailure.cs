using Microsoft.Extensions.Options;

namespace ProxySidecar;

/// <summary>
/// Thrown when the sidecar cannot start because of its configuration or its files.
/// The message names the setting and says how to fix it.
/// </summary>
internal sealed class SidecarStartupException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Turns configuration and certificate errors at start-up into a readable message and exit code 2,
/// instead of an unhandled-exception crash dump.
/// </summary>
internal static class StartupFailure
{
    public const int ExitCode = 2;

    public static int Guard(Action run)
    {
        try
        {
            run();
            return 0;
        }
        catch (Exception error) when (Describe(error) is { Count: > 0 } problems)
        {
            Console.Error.WriteLine("ProxySidecar cannot start:");
            foreach (var problem in problems)
            {
                Console.Error.WriteLine("  - " + problem);
            }

            return ExitCode;
        }
    }

    /// <summary>Every configuration problem inside <paramref name="error"/>; empty when it is not a start-up problem.</summary>
    public static IReadOnlyList<string> Describe(Exception error)
    {
        var problems = new List<string>();
        Collect(error, problems);
        return problems;
    }

    /// <summary>
    /// The configuration binder's "Failed to convert configuration value 'v' at 'key' to type 'T'." as
    /// "key: "v" is not a T. How such values are written."
    /// </summary>
    internal static string DescribeConversion(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(
            message,
            "^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']*)' to type '(?<type>[^']*)'",
            System.Text.RegularExpressions.RegexOptions.Singleline,
            TimeSpan.FromSeconds(1));
        if (!match.Success)
        {
            return message;
        }

        var key = match.Groups["key"].Value;
        var value = match.Groups["value"].Value;
        var typeName = match.Groups["type"].Value;
        var type = Type.GetType(typeName) ?? typeof(StartupFailure).Assembly.GetType(typeName);
        if (type is not null && Nullable.GetUnderlyingType(type) is { } underlying)
        {
            type = underlying;
        }

        var hint = type switch
        {
            _ when type == typeof(TimeSpan) => "a time span. Write it as hh:mm:ss, e.g. \"00:00:05\" (or d.hh:mm:ss for days).",
            _ when type == typeof(bool) => "true or false.",
            _ when type == typeof(int) || type == typeof(long) => "a whole number, e.g. 8443.",
            { IsEnum: true } => "one of: " + string.Join(", ", Enum.GetNames(type)) + ".",
            _ => $"a valid {typeName}.",
        };
        return $"{key}: \"{value}\" is not valid here. Use {hint}";
    }

    private static void Collect(Exception error, List<string> problems)
    {
        switch (error)
        {
            case OptionsValidationException validation:
                problems.AddRange(validation.Failures);
                break;
            case SidecarStartupException startup:
                problems.Add(startup.Message);
                break;
            case InvalidOperationException binding when binding.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal):
                problems.Add(DescribeConversion(binding.Message));
                break;
            case AggregateException aggregate:
                foreach (var inner in aggregate.InnerExceptions)
                {
                    Collect(inner, problems);
                }

                break;
            default:
                if (error.InnerException is { } innerError)
                {
                    Collect(innerError, problems);
                }

                break;
        }
    }
}
