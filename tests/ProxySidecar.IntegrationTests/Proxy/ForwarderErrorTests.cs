using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Proxy;

/// <summary>When the app cannot answer, the client gets a small problem+json body with the trace id, and a log line is written.</summary>
public sealed class ForwarderErrorTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";

    [Fact]
    public async Task Forward_AppUnreachable_502ProblemWithTraceIdAndLogLine()
    {
        var logs = new CapturedLogs();
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?> { ["Sidecar:Upstream:Address"] = $"http://127.0.0.1:{FreePort.Next()}" },
            configureServices: logs.AddTo);
        using var client = stack.CreateClient();

        using var response = await SendWithTraceAsync(client, "/unreachable");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        await AssertProblemAsync(response, 502);
        var line = await logs.WaitForAsync(e => e.EventId.Id == 301);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Equal("/unreachable", line["Path"]);
        Assert.Equal(502, line["Status"]);
        Assert.Equal(TraceId, line["TraceId"]);
        var status = await stack.Sidecar.GetStatusAsync();
        Assert.False((bool)status["upstream"]!["lastProbe"]!["succeeded"]!);
    }

    [Fact]
    public async Task Forward_AppTooSlow_504ProblemWithTraceIdAndLogLine()
    {
        var logs = new CapturedLogs();
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?> { ["Sidecar:Upstream:ResponseTimeout"] = "00:00:01" },
            configureServices: logs.AddTo);
        stack.Upstream.Map("/slow", async context =>
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20), context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
            }
        });
        using var client = stack.CreateClient();

        using var response = await SendWithTraceAsync(client, "/slow");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        await AssertProblemAsync(response, 504);
        var line = await logs.WaitForAsync(e => e.EventId.Id == 301);
        Assert.Equal(504, line["Status"]);
        Assert.Equal(TraceId, line["TraceId"]);

        // One slow response does not take the pod out of the load balancer.
        using var admin = stack.Sidecar.CreateAdminClient();
        using var ready = await admin.GetAsync(new Uri("/healthz/ready", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task Forward_AppAnswersItsOwnError_PassesThroughUntouched()
    {
        await using var stack = await SidecarSetup.StartAsync();
        stack.Upstream.Map("/broken", context =>
        {
            context.Response.StatusCode = 502;
            context.Response.ContentType = "text/plain";
            return context.Response.WriteAsync("the app's own 502");
        });
        using var client = stack.CreateClient();

        using var response = await client.GetAsync(new Uri("/broken", UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("the app's own 502", await response.Content.ReadAsStringAsync());
    }

    private static async Task<HttpResponseMessage> SendWithTraceAsync(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{TraceId}-00f067aa0ba902b7-01");
        return await client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(20));
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, int status)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal(status, (int)problem["status"]!);
        Assert.False(string.IsNullOrEmpty((string?)problem["title"]));
        Assert.False(string.IsNullOrEmpty((string?)problem["detail"]));
        Assert.Equal(TraceId, (string?)problem["traceId"]);
    }
}

/// <summary>An app that accepts no connection at all (its listen backlog is full): the connect timeout applies.</summary>
public sealed class ConnectTimeoutTests
{
    [Fact]
    public async Task Forward_AppNeverAcceptsTheConnection_502AfterConnectTimeout()
    {
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<System.Net.Sockets.Socket>();
        try
        {
            // Fill the accept queue; further SYNs are dropped and connects hang.
            for (var i = 0; i < 8; i++)
            {
                var filler = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                fillers.Add(filler);
                using var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    await filler.ConnectAsync(IPAddress.Loopback, port, quick.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            var logs = new CapturedLogs();
            await using var stack = await SidecarSetup.StartAsync(
                new Dictionary<string, string?>
                {
                    ["Sidecar:Upstream:Address"] = $"http://127.0.0.1:{port}",
                    ["Sidecar:Upstream:ConnectTimeout"] = "00:00:01",
                },
                configureServices: logs.AddTo);
            using var client = stack.CreateClient();

            using var response = await client.GetAsync(new Uri("/never", UriKind.Relative)).WaitAsync(TimeSpan.FromSeconds(20));

            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            Assert.Contains("connection", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
            await logs.WaitForAsync(e => e.EventId.Id == 301);
        }
        finally
        {
            foreach (var filler in fillers)
            {
                filler.Dispose();
            }
        }
    }
}
