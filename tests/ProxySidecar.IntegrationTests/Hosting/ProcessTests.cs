using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>The real binary: exit codes, SIGTERM, start-up errors and what it writes to stdout.</summary>
[Trait("Category", SidecarProcess.Category)]
public sealed class ProcessTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    [Fact]
    public void Binary_IsNextToTheTests()
    {
        Assert.True(File.Exists(SidecarProcess.AssemblyPath), SidecarProcess.AssemblyPath);
        Assert.True(File.Exists(Path.ChangeExtension(SidecarProcess.AssemblyPath, ".runtimeconfig.json")));
    }

    [Fact]
    public async Task Sigterm_InFlightRequest_CompletesAndProcessExitsZero()
    {
        await using var upstream = await TestUpstream.StartAsync();
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Map("/slow", async context =>
        {
            arrived.TrySetResult();
            await release.Task.WaitAsync(Bound);
            await context.Response.WriteAsync("finished after SIGTERM");
        });
        using var setup = ProcessSetup.Start(upstream.Address, new Dictionary<string, string?>
        {
            ["Sidecar__Hosting__DrainTimeout"] = "00:00:10",
            ["Sidecar__Hosting__ShutdownDelay"] = "00:00:00.5",
        });
        await setup.WaitForReadinessAsync();
        using var client = setup.CreateClient();
        var slow = client.GetAsync(new Uri("/slow", UriKind.Relative));
        await arrived.Task.WaitAsync(Bound);

        setup.Process.Terminate();
        await setup.Process.WaitForOutputAsync("Shutdown requested", Bound);
        release.SetResult();
        using var response = await slow.WaitAsync(Bound);
        var exited = setup.Process.WaitForExit(TimeSpan.FromSeconds(15));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("finished after SIGTERM", await response.Content.ReadAsStringAsync());
        Assert.True(exited, "The process did not exit within DrainTimeout.");
        Assert.Equal(0, setup.Process.ExitCode);
    }

    [Fact]
    public void InvalidConfiguration_SeveralBadKeys_ExitsNonZeroNamingEveryKey()
    {
        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), new Dictionary<string, string?>
        {
            ["Sidecar__Hosting__HttpsPort"] = "70000",
            ["Sidecar__Upstream__Address"] = "not-a-url",
            ["Sidecar__Upstream__ConnectTimeout"] = "-1",
            ["Sidecar__Tls__HandshakeTimeout"] = "00:00:00",
        });

        Assert.True(setup.Process.WaitForExit(Bound), "The process kept running with invalid configuration.");
        Assert.NotEqual(0, setup.Process.ExitCode);
        var output = setup.Process.Stderr;
        Assert.Contains("Sidecar:Hosting:HttpsPort", output, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Upstream:Address", output, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Upstream:ConnectTimeout", output, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Tls:HandshakeTimeout", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidConfiguration_ValueOfTheWrongFormat_ClearMessageNotACrashDump()
    {
        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), new Dictionary<string, string?>
        {
            ["Sidecar__Upstream__ResponseTimeout"] = "abc",
        });

        Assert.True(setup.Process.WaitForExit(Bound), "The process kept running with invalid configuration.");
        Assert.NotEqual(0, setup.Process.ExitCode);
        var output = setup.Process.Stderr;
        Assert.Contains("Sidecar:Upstream:ResponseTimeout: \"abc\"", output, StringComparison.Ordinal);
        Assert.Contains("hh:mm:ss", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingCertificate_OutsideDevelopment_ExitsNonZeroNamingPathAndSetting()
    {
        var missing = Path.Combine(Path.GetTempPath(), "proxysidecar-tests", Guid.NewGuid().ToString("N"), "tls.crt");
        using var setup = ProcessSetup.Start(new Uri("http://127.0.0.1:1"), new Dictionary<string, string?>
        {
            ["Sidecar__Tls__CertificatePath"] = missing,
        });

        Assert.True(setup.Process.WaitForExit(Bound), "The process kept running without a certificate.");
        Assert.NotEqual(0, setup.Process.ExitCode);
        Assert.Contains(missing, setup.Process.Stderr, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Tls:CertificatePath", setup.Process.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stdout_OneJsonObjectPerLine_AccessLogWithTraceIds()
    {
        await using var upstream = await TestUpstream.StartAsync();
        using var setup = ProcessSetup.Start(upstream.Address);
        await setup.WaitForReadinessAsync();
        using var client = setup.CreateClient();
        const string traceId = "0af7651916cd43dd8448eb211c80319c";
        using var request = new HttpRequestMessage(HttpMethod.Get, "/logged?secret=1");
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{traceId}-b7ad6b7169203331-01");

        using var response = await client.SendAsync(request);
        await setup.Process.WaitForOutputAsync("\"Path\":\"/logged\"", Bound);
        setup.Process.Terminate();
        setup.Process.WaitForExit(Bound);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var lines = setup.Process.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.NotEmpty(lines);
        var entries = lines.Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();
        var access = Assert.Single(entries, e => e.GetProperty("Category").GetString() == "ProxySidecar.AccessLog");
        var state = access.GetProperty("State");
        Assert.Equal("GET", state.GetProperty("Method").GetString());
        Assert.Equal("/logged", state.GetProperty("Path").GetString());
        Assert.Equal(200, state.GetProperty("Status").GetInt32());
        Assert.True(state.GetProperty("DurationMs").GetDouble() >= 0);
        Assert.Equal("upstream:/logged".Length, state.GetProperty("Bytes").GetInt64());
        Assert.DoesNotContain("secret", access.GetRawText(), StringComparison.Ordinal);
        var scopes = access.GetProperty("Scopes").EnumerateArray().ToList();
        Assert.Contains(scopes, s => s.TryGetProperty("TraceId", out var t) && t.GetString() == traceId);
        Assert.Contains(scopes, s => s.TryGetProperty("SpanId", out var span) && span.GetString()!.Length == 16);
    }
}
