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
                // The configuration binder names the key; say how such values are written.
                problems.Add(binding.Message + " Write time spans as \"hh:mm:ss\" (e.g. \"00:00:05\"), numbers as digits, and choices by their name.");
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
