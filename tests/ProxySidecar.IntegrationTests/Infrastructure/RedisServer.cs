using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// A real redis-server of its own on a free 127.0.0.1 port (never 6379), without persistence. Tests can
/// hang it (SIGSTOP), resume it (SIGCONT), kill it and start it again on the same port. Stopped by PID.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly TempDirectory _directory = new();
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }

    /// <summary>The PID of the running redis-server.</summary>
    public int Pid => _process?.Id ?? throw new InvalidOperationException("redis-server is not running.");

    /// <summary>A StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>The redis-server on PATH, or null.</summary>
    public static string? Executable { get; } = FindOnPath("redis-server");

    /// <summary>Why Redis tests are skipped here; null when they run (installed, or CI=true where a missing server is a failure).</summary>
    public static string? SkipReason =>
        Executable is not null || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? null
            : "redis-server is not installed (apt-get install redis-server); with CI=true these tests fail instead of skipping.";

    public static async Task<RedisServer> StartAsync()
    {
        if (Executable is null)
        {
            throw new InvalidOperationException("redis-server is not on PATH. Install it (apt-get install -y redis-server; .ci/run does this) to run the shared-cache tests.");
        }

        // A free port can be taken between the probe and the bind: try a few.
        for (var attempt = 0; ; attempt++)
        {
            var server = new RedisServer(FreePort.Next());
            try
            {
                await server.StartProcessAsync();
                return server;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>SIGSTOP: the port stays open, nothing answers (a hung Redis).</summary>
    public void Pause() => Signal(19);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal(18);

    /// <summary>SIGKILL, and waits until the process is gone (the port is then closed).</summary>
    public void Kill()
    {
        var process = _process ?? throw new InvalidOperationException("redis-server is not running.");
        Signal(9);
        process.WaitForExit(10_000);
        process.Dispose();
        _process = null;
    }

    /// <summary>Starts redis-server again on the same port (empty, as after a crash without persistence).</summary>
    public Task RestartAsync()
    {
        if (_process is not null)
        {
            Kill();
        }

        return StartProcessAsync();
    }

    /// <summary>True when the server answers PING within <paramref name="timeout"/>.</summary>
    public async Task<bool> PingAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), cts.Token);
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer, cts.Token);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Runs a command with redis-cli-free RESP (inline form); returns the raw first reply line.</summary>
    public async Task<string> CommandAsync(string inline)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes(inline + "\r\n"), cts.Token);
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer, cts.Token);
        return Encoding.UTF8.GetString(buffer, 0, read);
    }

    /// <summary>Waits until this server holds at least <paramref name="count"/> keys matching <paramref name="pattern"/>.</summary>
    public async Task WaitForKeysAsync(string pattern, int count = 1)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        string reply;
        do
        {
            reply = await CommandAsync("KEYS " + pattern);
            var header = reply.Split("\r\n")[0];
            if (header.StartsWith('*') && int.Parse(header[1..], System.Globalization.CultureInfo.InvariantCulture) >= count)
            {
                return;
            }

            await Task.Delay(20);
        }
        while (DateTime.UtcNow < deadline);

        throw new TimeoutException($"Redis never held {count} keys matching {pattern}; last reply: {reply}");
    }

    public async ValueTask DisposeAsync()
    {
        var process = _process;
        _process = null;
        if (process is not null)
        {
            try
            {
                if (!process.HasExited)
                {
                    // A paused server ignores SIGTERM until resumed; SIGKILL works either way.
                    _ = Native.Kill(process.Id, 9);
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
                }
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
            }

            process.Dispose();
        }

        _directory.Dispose();
    }

    private async Task StartProcessAsync()
    {
        var start = new ProcessStartInfo(Executable!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory.Path,
        };
        foreach (var argument in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory.Path, "--daemonize", "no" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                break;
            }

            if (await PingAsync(TimeSpan.FromMilliseconds(500)))
            {
                return;
            }

            await Task.Delay(20);
        }

        _process = null;
        if (!process.HasExited)
        {
            _ = Native.Kill(process.Id, 9);
            process.WaitForExit(5000);
        }

        process.Dispose();
        string log;
        lock (output)
        {
            log = output.ToString();
        }

        throw new InvalidOperationException($"redis-server on port {Port} never answered PING. Output:\n{log}");
    }

    private void Signal(int signal)
    {
        if (Native.Kill(Pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({Pid}, {signal}) failed.");
        }
    }

    private static string? FindOnPath(string name)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static class Native
    {
        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        public static extern int Kill(int pid, int signal);
    }
}

/// <summary>
/// A test that needs a real redis-server: skipped with a reason when none is installed, except under
/// CI=true, where it runs (and fails with a clear message) so a CI machine without Redis cannot pass silently.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (RedisServer.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
