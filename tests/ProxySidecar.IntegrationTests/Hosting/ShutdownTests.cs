using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Hosting;

/// <summary>Shutdown: readiness fails at once, in-flight requests finish.</summary>
public sealed class ShutdownTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Stop_InFlightSlowRequest_ReadinessTurns503AndTheRequestStillCompletes()
    {
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Hosting:ShutdownDelay"] = "00:00:02",
            ["Sidecar:Hosting:DrainTimeout"] = "00:00:10",
        });
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stack.Upstream.Map("/slow", async context =>
        {
            arrived.SetResult();
            await release.Task.WaitAsync(Bound);
            await context.Response.WriteAsync("finished");
        });
        await stack.Sidecar.WaitForReadinessAsync(HttpStatusCode.OK);
        using var client = stack.CreateClient();
        using var admin = stack.Sidecar.CreateAdminClient();
        var slow = client.GetAsync(new Uri("/slow", UriKind.Relative));
        await arrived.Task.WaitAsync(Bound);

        var stopping = stack.Sidecar.StopAsync();
        await stack.Sidecar.WaitForReadinessAsync(HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(5));
        using var ready = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
        var status = JsonNode.Parse(await admin.GetStringAsync(new Uri("/status", UriKind.Relative)))!;
        release.SetResult();
        using var response = await slow.WaitAsync(Bound);
        await stopping.WaitAsync(Bound);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("draining", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("draining", (string?)status["state"]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("finished", await response.Content.ReadAsStringAsync());
    }
}
