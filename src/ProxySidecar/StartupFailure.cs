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
internal static partial class StartupFailure
{
    public const int ExitCode = 2;

    public static int Guard(Action run) => Guard(run, Console.Error);

    /// <summary>
    /// Runs <paramref name="run"/>; a start-up problem is written as one line per cause, anything else as one line
    /// naming the error followed by its details (that is a bug to report); either way the exit code is 2, never a
    /// crash dump.
    /// </summary>
    internal static int Guard(Action run, TextWriter stderr)
    {
        try
        {
            run();
            return 0;
        }
        catch (Exception error)
        {
            var problems = Describe(error);
            stderr.WriteLine("ProxySidecar cannot start:");
            if (problems.Count > 0)
            {
                foreach (var problem in problems)
                {
                    stderr.WriteLine("  - " + problem);
                }
            }
            else
            {
                stderr.WriteLine($"  - an unexpected error: {error.GetType().FullName}: {OneLine(error.Message)} (this is a bug; the details follow)");
                stderr.WriteLine(error.ToString());
            }

            stderr.Flush();
            return ExitCode;
        }
    }

    /// <summary>Every configuration problem inside <paramref name="error"/>; empty when it is not a start-up problem.</summary>
    public static IReadOnlyList<string> Describe(Exception error)
    {
        var problems = new List<string>();
        Collect(error, problems);
        return problems.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The configuration binder's "Failed to convert configuration value 'v' at 'key' to type 'T'." as
    /// "key: "v" is not a T. How such values are written." (The compile-time binder, which the sidecar uses,
    /// writes the same message as the reflection-based one.)
    /// </summary>
    internal static string DescribeConversion(string message)
    {
        var match = ConversionPattern().Match(message);
        if (!match.Success)
        {
            return message;
        }

        var key = match.Groups["key"].Value;
        var typeName = match.Groups["type"].Value;
        var nullable = NullablePattern().Match(typeName);
        var type = Array.Find(ConvertibleTypes, t => t.FullName == (nullable.Success ? nullable.Groups["inner"].Value : typeName));
        var hint = type switch
        {
            _ when type == typeof(TimeSpan) => "a time span. Write it as hh:mm:ss, e.g. \"00:00:05\" (or d.hh:mm:ss for days).",
            _ when type == typeof(bool) => "true or false.",
            _ when type == typeof(int) || type == typeof(long) => "a whole number, e.g. 8443.",
            { IsEnum: true } => "one of: " + string.Join(", ", Enum.GetNames(type)) + ".",
            _ => $"a valid {typeName}.",
        };
        return $"{key}: \"{match.Groups["value"].Value}\" is not valid here. Use {hint}";
    }

    /// <summary>
    /// The types of the settings a value can fail to convert to, looked up by the name in the binder's message
    /// (by a list, not by reflection, so that this works in a trimmed Native AOT build).
    /// </summary>
    internal static readonly Type[] ConvertibleTypes =
    [
        typeof(TimeSpan), typeof(bool), typeof(int), typeof(long),
        typeof(Proxy.UpstreamProtocol), typeof(Tls.ClientCertificateMode),
        typeof(Limits.PartitionKind), typeof(Limits.RateLimitAlgorithm),
    ];

    [System.Text.RegularExpressions.GeneratedRegex(
        "^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']*)' to type '(?<type>[^']*)'",
        System.Text.RegularExpressions.RegexOptions.Singleline,
        matchTimeoutMilliseconds: 1000)]
    private static partial System.Text.RegularExpressions.Regex ConversionPattern();

    /// <summary>Nullable&lt;T&gt; as Type.ToString() or Type.FullName writes it.</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"^System\.Nullable`1\[\[?(?<inner>[^,\]]+)", System.Text.RegularExpressions.RegexOptions.None, matchTimeoutMilliseconds: 1000)]
    private static partial System.Text.RegularExpressions.Regex NullablePattern();

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

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
            case IOException io when io.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException:
                // Kestrel's "Failed to bind to address https://0.0.0.0:8443: address already in use."
                problems.Add($"{OneLine(io.Message)} Stop the other process or choose a free port (Sidecar:Hosting:HttpsPort, AdminPort or HttpRedirectPort).");
                break;
            case System.Net.Sockets.SocketException socket:
                problems.Add($"cannot listen: {OneLine(socket.Message)} ({socket.SocketErrorCode}). Check the ports and addresses under Sidecar:Hosting.");
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
