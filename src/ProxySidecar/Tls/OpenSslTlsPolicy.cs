using System.Runtime.InteropServices;

namespace ProxySidecar.Tls;

/// <summary>
/// Applies the TLS policy through OpenSSL's own configuration (openssl-tls-policy.cnf, next to the binary)
/// instead of a per-connection <see cref="System.Net.Security.CipherSuitesPolicy"/>: .NET gives every
/// connection that carries a CipherSuitesPolicy a fresh OpenSSL context, which turns off TLS session
/// resumption, so every returning client would pay for a full handshake. OpenSSL reads OPENSSL_CONF once,
/// when it is first used, so <see cref="Apply"/> must run before anything in the process touches TLS or
/// cryptography: the first line of Main. When it cannot apply (OPENSSL_CONF already names another file,
/// the file is missing, not Linux), the listener keeps the explicit CipherSuitesPolicy: the same policy,
/// without resumption.
/// </summary>
internal static partial class OpenSslTlsPolicy
{
    public const string FileName = "openssl-tls-policy.cnf";

    private const string Variable = "OPENSSL_CONF";

    /// <summary>True when this process's OpenSSL enforces the policy from the file.</summary>
    public static bool Applied { get; private set; }

    /// <summary>Why the file is not used, when it is not (shown in /status).</summary>
    public static string? NotAppliedReason { get; private set; } = "not applied yet";

    public static void Apply() => Apply(AppContext.BaseDirectory);

    internal static void Apply(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            NotAppliedReason = "OpenSSL configuration is only used on Linux";
            return;
        }

        var path = Path.Combine(directory, FileName);
        var current = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrEmpty(current))
        {
            // Already ours (a parent process set it, or the operator named our file): nothing to do.
            Applied = string.Equals(Path.GetFileName(current), FileName, StringComparison.Ordinal) && File.Exists(current);
            NotAppliedReason = Applied ? null : $"{Variable} is set to {current}, so that file configures OpenSSL";
            return;
        }

        if (!File.Exists(path))
        {
            NotAppliedReason = $"{path} is missing";
            return;
        }

        // Environment.SetEnvironmentVariable changes only the runtime's copy; OpenSSL reads the C library's.
        try
        {
            if (SetEnv(Variable, path, overwrite: 0) != 0)
            {
                NotAppliedReason = $"setenv({Variable}) failed";
                return;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            NotAppliedReason = $"setenv is not available: {e.Message}";
            return;
        }

        Environment.SetEnvironmentVariable(Variable, path);
        Applied = true;
        NotAppliedReason = null;
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
