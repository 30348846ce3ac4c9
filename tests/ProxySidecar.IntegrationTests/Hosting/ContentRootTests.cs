using System.Net;
using System.Text.Json;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>The binary started from another working directory: settings next to it are read, and logs stay quiet.</summary>
[Trait("Category", SidecarProcess.Category)]
public sealed class ContentRootTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>Lines that belong to shutting down, not to the request.</summary>
    private static readonly string[] ShutdownCategories = ["ProxySidecar.Hosting.LifecycleService", "Microsoft.Hosting.Lifetime"];

    [Fact]
    public async Task OtherWorkingDirectory_SettingsNextToTheBinaryRead_OneLogLinePerProxiedRequest()
    {
        using var elsewhere = new TempDirectory();
        await ProxiedRequestWithSettingsInAsync(SidecarProcess.BinaryDirectory, elsewhere.Path, contentRootVariable: null);
    }

    /// <summary>
    /// A content root given explicitly, holding no appsettings.json at all: its settings are read, and the framework's
    /// per-request categories are quiet by the defaults in code.
    /// </summary>
    [Fact]
    public async Task ContentRootGiven_ItsSettingsRead_FrameworkQuietWithoutAppsettings()
    {
        using var root = new TempDirectory();
        using var elsewhere = new TempDirectory();
        await ProxiedRequestWithSettingsInAsync(root.Path, elsewhere.Path, contentRootVariable: root.Path);
    }

    /// <summary>
    /// Starts the binary from <paramref name="workingDirectory"/> with the upstream address given only in an
    /// environment-specific appsettings file in <paramref name="settingsDirectory"/> (read from the content root
    /// exactly as appsettings.json is); one proxied request must reach the app and write exactly one line.
    /// </summary>
    private static async Task ProxiedRequestWithSettingsInAsync(string settingsDirectory, string workingDirectory, string? contentRootVariable)
    {
        await using var upstream = await TestUpstream.StartAsync();
        var environment = "ContentRoot" + Guid.NewGuid().ToString("N")[..8];
        var settingsFile = Path.Combine(settingsDirectory, $"appsettings.{environment}.json");
        await File.WriteAllTextAsync(settingsFile, $$"""{ "Sidecar": { "Upstream": { "Address": "{{upstream.Address}}" } } }""");
        try
        {
            using var setup = ProcessSetup.Start(
                upstream.Address,
                new Dictionary<string, string?>
                {
                    ["Sidecar__Upstream__Address"] = null,
                    ["ASPNETCORE_CONTENTROOT"] = contentRootVariable,
                },
                aspnetEnvironment: environment,
                workingDirectory: workingDirectory);
            await setup.WaitForReadinessAsync();
            await setup.Process.WaitForOutputAsync("ProxySidecar is serving", Bound);
            using var client = setup.CreateClient();
            var before = Lines(setup.Process.Stdout).Count;

            using var response = await client.GetAsync(new Uri("/from-elsewhere", UriKind.Relative));
            var body = await response.Content.ReadAsStringAsync();
            await setup.Process.WaitForOutputAsync("\"Path\":\"/from-elsewhere\"", Bound);
            setup.Process.Terminate();
            Assert.True(setup.Process.WaitForExit(Bound), "The process did not exit after SIGTERM.");

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("upstream:/from-elsewhere", body);
            var during = Lines(setup.Process.Stdout).Skip(before)
                .Select(line => JsonDocument.Parse(line).RootElement.Clone())
                .Where(entry => !ShutdownCategories.Contains(entry.GetProperty("Category").GetString()))
                .ToList();
            var only = Assert.Single(during);
            Assert.Equal("ProxySidecar.AccessLog", only.GetProperty("Category").GetString());
        }
        finally
        {
            File.Delete(settingsFile);
        }
    }

    private static List<string> Lines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
}
