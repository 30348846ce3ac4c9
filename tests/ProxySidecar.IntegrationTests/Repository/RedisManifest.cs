using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using k8s.Models;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>The rendered Redis of the redis component: its container, start script, redis.conf and password Secret.</summary>
internal sealed record RedisManifest(V1Container Container, string Script, string ConfigMountPath, string ConfigFileName, string Config, V1SecretKeySelector PasswordSecret, string PasswordVariable)
{
    public const string DeploymentName = "proxysidecar-redis";

    public static RedisManifest From(Rendered rendered)
    {
        var deployment = Assert.Single(rendered.Deployments, d => d.Metadata.Name == DeploymentName);
        var pod = deployment.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);
        Assert.Equal(["sh", "-c"], container.Command.Take(2));
        var script = Assert.Single(container.Command.Skip(2));
        Assert.Null(container.Args);

        var configVolume = Assert.Single(pod.Volumes, v => v.ConfigMap is not null);
        var mount = Assert.Single(container.VolumeMounts, m => m.Name == configVolume.Name);
        var configMap = rendered.ConfigMap(configVolume.ConfigMap.Name);
        Assert.NotNull(configMap);
        var (fileName, config) = Assert.Single(configMap.Data);

        var password = Assert.Single(container.Env, e => e.ValueFrom?.SecretKeyRef is not null);
        Assert.Contains("$" + password.Name, script, StringComparison.Ordinal);
        return new RedisManifest(container, script, mount.MountPath, fileName, config, password.ValueFrom.SecretKeyRef, password.Name);
    }

    /// <summary>The arguments of the last line of redis.conf that sets <paramref name="name"/>, or null.</summary>
    public string? Directive(string name) =>
        Config.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', 2))
            .LastOrDefault(p => string.Equals(p[0], name, StringComparison.OrdinalIgnoreCase)) is { } found
            ? (found.Length > 1 ? found[1].Trim() : "")
            : null;

    /// <summary>A redis.conf memory size ("200mb", "1gb", "1048576") in bytes.</summary>
    public static long Bytes(string value)
    {
        var lower = value.ToLowerInvariant();
        foreach (var (suffix, factor) in new[] { ("kb", 1024L), ("mb", 1024L * 1024), ("gb", 1024L * 1024 * 1024), ("k", 1000L), ("m", 1000L * 1000), ("g", 1000L * 1000 * 1000) })
        {
            if (lower.EndsWith(suffix, StringComparison.Ordinal))
            {
                return long.Parse(lower[..^suffix.Length], CultureInfo.InvariantCulture) * factor;
            }
        }

        return long.Parse(lower, CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The rendered Redis container's own start script, run by /bin/sh as the container would run it, with the
/// ConfigMap's redis.conf at the mount path's place and the password in the environment. Only the listening
/// address, port and directory are changed (appended to the copy of redis.conf: a later line wins). Stopped by PID.
/// </summary>
internal sealed class RenderedRedisProcess : IAsyncDisposable
{
    private readonly TempDirectory _directory;
    private readonly Process _process;
    private readonly StringBuilder _output;

    private RenderedRedisProcess(TempDirectory directory, Process process, StringBuilder output, int port)
    {
        _directory = directory;
        _process = process;
        _output = output;
        Port = port;
    }

    public int Port { get; }

    public int Pid => _process.Id;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Runs the script; returns once Redis answers, or throws with its output (see <see cref="RunToExit"/> for scripts that must fail).</summary>
    public static async Task<RenderedRedisProcess> StartAsync(RedisManifest redis, string password, string extraConfig = "")
    {
        var directory = new TempDirectory();
        var port = FreePort.Next();
        var process = Launch(redis, password, directory, port, extraConfig, out var output);
        var started = new RenderedRedisProcess(directory, process, output, port);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            if (await started.AnswersAsync())
            {
                return started;
            }

            await Task.Delay(20);
        }

        var log = started.Output;
        await started.DisposeAsync();
        throw new InvalidOperationException($"The rendered Redis script never answered on port {port}. Output:\n{log}");
    }

    /// <summary>Runs the script to its end (for a script that must refuse to start): exit code and output.</summary>
    public static (int ExitCode, string Output) RunToExit(RedisManifest redis, string password)
    {
        using var directory = new TempDirectory();
        using var process = Launch(redis, password, directory, FreePort.Next(), "", out var output);
        if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            process.Kill();
            process.WaitForExit(5000);
            Assert.Fail("the rendered Redis script kept running");
        }

        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>The command line the kernel shows for the running process (what `ps` shows to anyone).</summary>
    public string CommandLine => File.ReadAllText($"/proc/{Pid}/cmdline").Replace('\0', ' ');

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
        }

        _process.Dispose();
        _directory.Dispose();
    }

    /// <summary>Any RESP answer to an unauthenticated PING (NOAUTH included) means the server is up.</summary>
    private async Task<bool> AnswersAsync()
    {
        try
        {
            return (await RawAsync("PING")).Length > 0;
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>One inline command on a fresh, unauthenticated connection; the first reply as text.</summary>
    public async Task<string> RawAsync(string inline)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, cts.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(inline + "\r\n"), cts.Token);
        var buffer = new byte[512];
        var read = await stream.ReadAsync(buffer, cts.Token);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }

    private static Process Launch(RedisManifest redis, string password, TempDirectory directory, int port, string extraConfig, out StringBuilder output)
    {
        if (RedisServer.Executable is null)
        {
            throw new InvalidOperationException("redis-server is not on PATH. Install it (apt-get install -y redis-server; .ci/run does this).");
        }

        var configDirectory = directory.Combine("config");
        var data = directory.Combine("data");
        Directory.CreateDirectory(configDirectory);
        Directory.CreateDirectory(data);
        File.WriteAllText(
            Path.Combine(configDirectory, redis.ConfigFileName),
            redis.Config + $"\n# test overrides\nbind 127.0.0.1\nport {port}\ndir {data}\n{extraConfig}\n");

        var mountPrefix = redis.ConfigMountPath.TrimEnd('/') + "/";
        Assert.Contains(mountPrefix + redis.ConfigFileName, redis.Script, StringComparison.Ordinal);
        var script = redis.Script.Replace(mountPrefix, configDirectory + "/", StringComparison.Ordinal);

        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = data };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        start.Environment[redis.PasswordVariable] = password;
        var process = Process.Start(start)!;
        var captured = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (captured) { captured.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (captured) { captured.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        output = captured;
        return process;
    }
}
