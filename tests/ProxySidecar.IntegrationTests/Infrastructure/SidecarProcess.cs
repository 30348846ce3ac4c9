using System.Diagnostics;
using System.Text;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// The real ProxySidecar binary in its own process, for what needs one: exit codes, SIGTERM.
/// Stopped by PID when disposed.
/// </summary>
public sealed class SidecarProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private SidecarProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (_stdout) { _stdout.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (_stderr) { _stderr.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Stdout { get { lock (_stdout) { return _stdout.ToString(); } } }

    public string Stderr { get { lock (_stderr) { return _stderr.ToString(); } } }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The sidecar's entry assembly, copied next to the tests by the project reference.</summary>
    public static string AssemblyPath => Path.Combine(AppContext.BaseDirectory, "ProxySidecar.dll");

    /// <summary>
    /// When set, the process tests run this executable instead of <c>dotnet exec ProxySidecar.dll</c>: e.g. the
    /// <c>ProxySidecar</c> of a Native AOT publish (bench/README.md, "Native AOT"). Unset in CI.
    /// </summary>
    public const string ExecutableVariable = "PROXYSIDECAR_TEST_EXECUTABLE";

    /// <summary>
    /// The test category of every test that starts the real binary; tests/run.sh runs this category again
    /// against the Native AOT executable.
    /// </summary>
    public const string Category = "Binary";

    /// <summary>The sidecar's executable (the Native AOT one when <see cref="ExecutableVariable"/> is set), or null for <c>dotnet exec</c>.</summary>
    public static string? Executable => Environment.GetEnvironmentVariable(ExecutableVariable) is { Length: > 0 } executable ? executable : null;

    /// <summary>The directory the sidecar's binary is in: its content root, where it reads appsettings.json.</summary>
    public static string BinaryDirectory => Executable is { } executable ? Path.GetDirectoryName(Path.GetFullPath(executable))! : AppContext.BaseDirectory;

    /// <summary>
    /// Starts the binary. <paramref name="commandPrefix"/> runs it through another program (e.g. <c>setpriv</c> to drop a
    /// capability); <paramref name="workingDirectory"/> defaults to the tests' directory.
    /// </summary>
    public static SidecarProcess Start(
        IDictionary<string, string> environment,
        string aspnetEnvironment = "Production",
        IReadOnlyList<string>? commandPrefix = null,
        string? workingDirectory = null)
    {
        var executable = Executable;
        var command = new List<string>(commandPrefix ?? []);
        if (executable is null)
        {
            command.AddRange(["dotnet", "exec", AssemblyPath]);
        }
        else
        {
            command.Add(executable);
        }

        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove(ExecutableVariable);
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("Sidecar__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("OTEL_", StringComparison.Ordinal) || k == "OPENSSL_CONF").ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = aspnetEnvironment;
        start.Environment["DOTNET_ENVIRONMENT"] = aspnetEnvironment;
        start.Environment["ASPNETCORE_URLS"] = string.Empty;
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return new SidecarProcess(Process.Start(start)!);
    }

    /// <summary>Waits for the process to exit; false if it is still running after <paramref name="timeout"/>.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }

        _process.WaitForExit();
        return true;
    }

    /// <summary>Sends SIGTERM, as the kubelet does.</summary>
    public void Terminate() => Signal(15);

    public void Signal(int signal)
    {
        if (Native.Kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed.");
        }
    }

    /// <summary>Waits until stdout contains <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Stdout.Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            if (HasExited)
            {
                break;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"Output never contained \"{text}\". stdout:\n{Stdout}\nstderr:\n{Stderr}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private static class Native
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static extern int Kill(int pid, int signal);
    }
}

/// <summary>Free loopback TCP ports for processes that cannot report the port they bound.</summary>
public static class FreePort
{
    public static int Next()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
