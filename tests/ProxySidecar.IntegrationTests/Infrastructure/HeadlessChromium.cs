using System.Diagnostics;
using System.Text;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's <c>chromium</c>, headless, one process per call with a fresh profile directory, stopped by PID (its
/// whole tree) if it outlives the deadline. Nothing reaches the network beyond the URL given.
/// </summary>
public static class HeadlessChromium
{
    /// <summary>chromium on PATH, or null.</summary>
    public static string? Executable { get; } = FindOnPath("chromium") ?? FindOnPath("chromium-browser");

    /// <summary>Why browser tests are skipped here; null when they run (installed, or CI=true where a missing browser is a failure).</summary>
    public static string? SkipReason =>
        Executable is not null || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? null
            : "chromium is not installed (apt-get install chromium; .ci/run does this); with CI=true these tests fail instead of skipping.";

    /// <summary>The DOM after the page loaded, serialised (what the browser rendered from the HTML).</summary>
    public static async Task<string> DumpDomAsync(Uri url)
    {
        var (exitCode, stdout, stderr) = await RunAsync(["--dump-dom", url.AbsoluteUri]);
        Assert.True(exitCode == 0, $"chromium --dump-dom exited with {exitCode}: {stderr}");
        return stdout;
    }

    /// <summary>Renders the page into a PNG at <paramref name="path"/>.</summary>
    public static async Task ScreenshotAsync(Uri url, string path, int width = 1280, int height = 1600)
    {
        var (exitCode, _, stderr) = await RunAsync([$"--screenshot={path}", $"--window-size={width},{height}", "--hide-scrollbars", url.AbsoluteUri]);
        Assert.True(exitCode == 0, $"chromium --screenshot exited with {exitCode}: {stderr}");
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string[] arguments)
    {
        var executable = Executable ?? throw new InvalidOperationException("chromium is not on PATH. Install it (apt-get install -y chromium; .ci/run does this) to run the status page tests.");
        using var profile = new TempDirectory();
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var argument in (string[])[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions", $"--user-data-dir={profile.Path}"])
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("chromium did not finish within 90 s: " + await stderr);
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}

/// <summary>
/// A test that needs a real headless browser: skipped with a reason when chromium is not installed, except under
/// CI=true, where it runs (and fails with a clear message) so a CI machine without it cannot pass silently.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
