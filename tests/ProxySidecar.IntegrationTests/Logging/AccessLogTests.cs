using System.Net;
using Microsoft.Extensions.Logging;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Logging;

/// <summary>One access-log entry per public request, with method, path, status, duration and bytes; switchable off.</summary>
public sealed class AccessLogTests
{
    private const string Category = "ProxySidecar.AccessLog";

    [Fact]
    public async Task AccessLog_Enabled_OneEntryPerRequestWithTheFields()
    {
        var logs = new CapturedLogs();
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?> { ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information" },
            configureServices: logs.AddTo);
        using var client = stack.CreateClient();
        using var admin = stack.Sidecar.CreateAdminClient();

        using (var first = await client.GetAsync(new Uri("/one?token=secret", UriKind.Relative)))
        {
            await first.Content.ReadAsStringAsync();
        }

        using (var second = await client.PostAsync(new Uri("/two", UriKind.Relative), new StringContent("x")))
        {
            await second.Content.ReadAsStringAsync();
        }

        using (await admin.GetAsync(new Uri("/healthz/live", UriKind.Relative)))
        {
        }

        await logs.WaitForAsync(e => e.Category == Category && (string?)e["Path"] == "/two");
        var entries = logs.Category(Category).ToList();
        Assert.Equal(2, entries.Count);
        var one = entries.Single(e => (string?)e["Path"] == "/one");
        Assert.Equal(LogLevel.Information, one.Level);
        Assert.Equal("GET", one["Method"]);
        Assert.Equal(200, one["Status"]);
        Assert.Equal((long)"upstream:/one".Length, one["Bytes"]);
        Assert.IsType<double>(one["DurationMs"]);
        Assert.DoesNotContain("secret", one.Message, StringComparison.Ordinal);
        Assert.Equal("POST", entries.Single(e => (string?)e["Path"] == "/two")["Method"]);
    }

    [Fact]
    public async Task AccessLog_Disabled_NoEntries()
    {
        var logs = new CapturedLogs();
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?>
            {
                ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information",
                ["Sidecar:AccessLog:Enabled"] = "false",
            },
            configureServices: logs.AddTo);
        using var client = stack.CreateClient();

        using var response = await client.GetAsync(new Uri("/quiet", UriKind.Relative));
        await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(logs.Category(Category));
    }
}
