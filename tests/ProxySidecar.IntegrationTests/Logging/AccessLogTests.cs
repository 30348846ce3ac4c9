using System.Net;
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ProxySidecar.Logging;
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
    public async Task AccessLog_LogsOnlyToTheConsole_WrittenByItsOwnWriterAsJsonLines()
    {
        var sink = new LineSink();
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?> { ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information" },
            configureServices: services => services.AddSingleton<IAccessLogSink>(sink));
        using var client = stack.CreateClient();

        using (var response = await client.GetAsync(new Uri("/direct?token=secret", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await response.Content.ReadAsStringAsync();
        }

        var status = await stack.Sidecar.WaitForStatusAsync(s => (long?)s["accessLog"]?["written"] >= 1, because: "the line is written");
        Assert.Equal("stdout", (string?)status["accessLog"]?["output"]);
        var line = Assert.Single(sink.Lines);
        Assert.DoesNotContain("secret", line, StringComparison.Ordinal);
        using var entry = JsonDocument.Parse(line);
        var state = entry.RootElement.GetProperty("State");
        Assert.Equal("/direct", state.GetProperty("Path").GetString());
        Assert.Equal(200, state.GetProperty("Status").GetInt32());
        Assert.Equal("upstream:/direct".Length, state.GetProperty("Bytes").GetInt64());
        Assert.Equal(Category, entry.RootElement.GetProperty("Category").GetString());
    }

    [Fact]
    public async Task AccessLog_AnotherLogDestination_GoesThroughLoggingInstead()
    {
        var sink = new LineSink();
        var logs = new CapturedLogs();
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?> { ["Logging:LogLevel:ProxySidecar.AccessLog"] = "Information" },
            configureServices: services =>
            {
                logs.AddTo(services);
                services.AddSingleton<IAccessLogSink>(sink);
            });
        using var client = stack.CreateClient();

        using (var response = await client.GetAsync(new Uri("/via-logging", UriKind.Relative)))
        {
            await response.Content.ReadAsStringAsync();
        }

        await logs.WaitForAsync(e => e.Category == Category && (string?)e["Path"] == "/via-logging");
        var status = await stack.Sidecar.WaitForStatusAsync(s => s["accessLog"] is not null, because: "status answers");
        Assert.Equal("logging", (string?)status["accessLog"]?["output"]);
        Assert.Empty(sink.Lines);
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

    private sealed class LineSink : IAccessLogSink
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyList<string> Lines => _lines.ToArray();

        public void Write(ReadOnlySpan<byte> lines)
        {
            foreach (var line in Encoding.UTF8.GetString(lines).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                _lines.Enqueue(line);
            }
        }
    }
}
