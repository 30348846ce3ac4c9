using System.Net;
using System.Net.Sockets;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>
/// Every way the real binary can fail to start ends the same way: exit code 2, and on stderr one line per cause that
/// names the setting and says what to change — no unhandled-exception trace, no abort, no stack trace in the logs.
/// </summary>
[Trait("Category", SidecarProcess.Category)]
public sealed class StartupFailureTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public void PortInUse_ExitsTwoNamingThePortAndTheSetting()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;

        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), new Dictionary<string, string?>
        {
            ["Sidecar__Hosting__HttpsPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        var cause = AssertFailedWithOneCause(setup.Process);
        Assert.Contains("Sidecar:Hosting:HttpsPort", cause, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{port} is already in use", cause, StringComparison.Ordinal);
    }

    [UnprivilegedFact]
    public void PortBelow1024WithoutPermission_ExitsTwoSayingWhatToChange()
    {
        var port = Unprivileged.FreeLowPort();

        using var setup = ProcessSetup.Start(
            new Uri("http://127.0.0.1:1"),
            new Dictionary<string, string?> { ["Sidecar__Hosting__HttpsPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            commandPrefix: Unprivileged.Without(Unprivileged.BindLowPorts));

        var cause = AssertFailedWithOneCause(setup.Process);
        Assert.Contains("Sidecar:Hosting:HttpsPort", cause, StringComparison.Ordinal);
        Assert.Contains($"no permission to listen on 127.0.0.1:{port}", cause, StringComparison.Ordinal);
        Assert.Contains("1024 or above", cause, StringComparison.Ordinal);
    }

    [UnprivilegedFact]
    public void CertificateUnreadable_ExitsTwoNamingThePathAndTheSetting()
    {
        using var rig = SidecarRig.Create();
        var (certificatePath, keyPath) = (rig.CertificatePath, rig.KeyPath);
        File.SetUnixFileMode(certificatePath, UnixFileMode.None);

        using var setup = ProcessSetup.Start(
            new Uri("http://127.0.0.1:1"),
            new Dictionary<string, string?>
            {
                ["Sidecar__Tls__CertificatePath"] = certificatePath,
                ["Sidecar__Tls__KeyPath"] = keyPath,
            },
            commandPrefix: Unprivileged.Without(Unprivileged.ReadAnyFile));

        var cause = AssertFailedWithOneCause(setup.Process);
        Assert.Contains("Sidecar:Tls:CertificatePath", cause, StringComparison.Ordinal);
        Assert.Contains(certificatePath, cause, StringComparison.Ordinal);
        Assert.Contains("cannot be read", cause, StringComparison.Ordinal);
    }

    [Fact]
    public void BadOption_OneLineOnStderrAndOneStructuredLogLineWithoutStackTrace()
    {
        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), new Dictionary<string, string?>
        {
            ["Sidecar__Admin__PurgeToken"] = "short",
        });

        var cause = AssertFailedWithOneCause(setup.Process);
        Assert.StartsWith("Sidecar:Admin:PurgeToken:", cause, StringComparison.Ordinal);
        var logLines = setup.Process.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var failure = Assert.Single(logLines, line => line.Contains("\"LogLevel\":\"Critical\"", StringComparison.Ordinal) || line.Contains("\"LogLevel\":\"Error\"", StringComparison.Ordinal));
        Assert.Contains("Sidecar:Admin:PurgeToken", failure, StringComparison.Ordinal);
        Assert.DoesNotContain("\"Exception\"", failure, StringComparison.Ordinal);
    }

    [UnprivilegedFact]
    public void ConfigFileUnreadable_ExitsTwoNamingTheFile()
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("sidecar.json");
        File.WriteAllText(path, "{}");
        File.SetUnixFileMode(path, UnixFileMode.None);

        using var setup = ProcessSetup.Start(
            new Uri("http://127.0.0.1:1"),
            new Dictionary<string, string?> { ["Sidecar__ConfigFile"] = path },
            commandPrefix: Unprivileged.Without(Unprivileged.ReadAnyFile));

        var cause = AssertFailedWithOneCause(setup.Process);
        Assert.Contains("Sidecar:ConfigFile", cause, StringComparison.Ordinal);
        Assert.Contains($"{path} cannot be read (permission denied)", cause, StringComparison.Ordinal);
    }

    [Fact]
    public void ConfigFileIsADirectory_ExitsTwoNamingTheFile()
    {
        using var temp = new TempDirectory();

        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), new Dictionary<string, string?>
        {
            ["Sidecar__ConfigFile"] = temp.Path,
        });

        var cause = AssertFailedWithOneCause(setup.Process);
        Assert.Contains($"Sidecar:ConfigFile: {temp.Path} cannot be read (it is a directory)", cause, StringComparison.Ordinal);
    }

    [Fact]
    public void SeveralCauses_OneLineEach()
    {
        using var temp = new TempDirectory();
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var missing = temp.Combine("missing", "tls.crt");

        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), new Dictionary<string, string?>
        {
            ["Sidecar__Hosting__AdminPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Sidecar__Tls__CertificatePath"] = missing,
        });

        Assert.True(setup.Process.WaitForExit(Bound), "The process kept running.");
        Assert.Equal(2, setup.Process.ExitCode);
        var causes = Causes(setup.Process.Stderr);
        Assert.Equal(2, causes.Count);
        Assert.Contains(causes, c => c.StartsWith("Sidecar:Tls:CertificatePath:", StringComparison.Ordinal) && c.Contains(missing, StringComparison.Ordinal));
        Assert.Contains(causes, c => c.StartsWith("Sidecar:Hosting:AdminPort:", StringComparison.Ordinal));
    }

    /// <summary>Exit code 2, stderr "ProxySidecar cannot start:" and exactly one cause, no trace anywhere; the cause.</summary>
    private static string AssertFailedWithOneCause(SidecarProcess process)
    {
        Assert.True(process.WaitForExit(Bound), $"The process kept running. stdout:\n{process.Stdout}");
        Assert.True(process.ExitCode == 2, $"exit code {process.ExitCode}; stderr:\n{process.Stderr}");
        Assert.DoesNotContain("Unhandled exception", process.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", process.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", process.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\"Exception\":", process.Stdout, StringComparison.Ordinal);
        var lines = process.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 2, "stderr:\n" + process.Stderr);
        Assert.Equal("ProxySidecar cannot start:", lines[0].TrimEnd());
        return Assert.Single(Causes(process.Stderr));
    }

    private static List<string> Causes(string stderr) =>
        stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(line => line.StartsWith("  - ", StringComparison.Ordinal))
            .Select(line => line[4..].TrimEnd())
            .ToList();
}
