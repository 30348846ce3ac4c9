namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// Runs the sidecar without some Linux capabilities, to see how it fails where a pod's user would: as an ordinary
/// user nothing needs to change; as root (which bypasses file permissions and may bind any port) the binary is
/// started through <c>setpriv</c> with the capabilities removed from its bounding set.
/// </summary>
public static class Unprivileged
{
    /// <summary>Binding ports below 1024.</summary>
    public const string BindLowPorts = "net_bind_service";

    /// <summary>Reading files whatever their permissions.</summary>
    public static readonly string[] ReadAnyFile = ["dac_override", "dac_read_search"];

    public static bool IsRoot => Native.GetEuid() == 0;

    /// <summary>Why the tests cannot run here, or null when they can.</summary>
    public static string? SkipReason =>
        IsRoot && FindOnPath("setpriv") is null
            ? "running as root, and setpriv (util-linux) is not installed to drop capabilities"
            : null;

    /// <summary>The command prefix that starts a process without <paramref name="capabilities"/>.</summary>
    public static IReadOnlyList<string> Without(params string[] capabilities)
    {
        if (!IsRoot)
        {
            return [];
        }

        var setpriv = FindOnPath("setpriv") ?? throw new InvalidOperationException(SkipReason);
        return [setpriv, "--bounding-set=" + string.Join(',', capabilities.Select(c => "-" + c)), "--"];
    }

    /// <summary>A port below 1024 that nothing listens on, for a permission-denied bind.</summary>
    public static int FreeLowPort()
    {
        for (var port = 1023; port > 900; port--)
        {
            try
            {
                using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (System.Net.Sockets.SocketException) when (!IsRoot)
            {
                // Not root: every low port is refused, so nothing here says whether it is free; take it.
                return port;
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
        }

        throw new InvalidOperationException("No free port below 1024.");
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    private static class Native
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
        public static extern uint GetEuid();
    }
}

/// <summary>
/// A test that runs the sidecar without some capabilities (<see cref="Unprivileged"/>): skipped with a reason when
/// that is not possible here, except under CI=true, where it runs and fails with a clear message.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class UnprivilegedFactAttribute : FactAttribute
{
    public UnprivilegedFactAttribute()
    {
        if (Unprivileged.SkipReason is { } reason && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = reason;
        }
    }
}
