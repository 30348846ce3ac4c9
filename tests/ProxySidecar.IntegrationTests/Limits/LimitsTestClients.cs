using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Limits;

/// <summary>
/// Clients for the limits tests. Linux answers on every address of 127.0.0.0/8, so a client that binds its socket
/// to 127.0.0.2, 127.0.0.3 ... is, to the sidecar, another client address: many clients from one machine.
/// </summary>
internal static class LimitsTestClients
{
    /// <summary>The <paramref name="n"/>th loopback address: 127.0.0.1 for 1, 127.0.1.4 for 260.</summary>
    public static IPAddress Loopback(int n) => new([127, 0, (byte)(n / 256), (byte)(n % 256)]);

    /// <summary>An HTTPS client whose connections come from <paramref name="source"/>.</summary>
    public static HttpClient CreateClientFrom(SidecarHost sidecar, IPAddress source)
    {
        var handler = sidecar.CreateHandler();
        handler.ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
        return new HttpClient(handler, disposeHandler: true)
        {
            BaseAddress = sidecar.HttpsAddress,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>A TLS connection to the public port from <paramref name="source"/>, handshake done (throws when the sidecar closes it first).</summary>
    public static async Task<(TcpClient Tcp, SslStream Tls)> ConnectTlsAsync(SidecarHost sidecar, IPAddress source)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var tcp = new TcpClient(new IPEndPoint(source, 0));
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, sidecar.HttpsAddress.Port, cancel.Token);
            var tls = new SslStream(tcp.GetStream());
            await tls.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
                },
                cancel.Token);
            return (tcp, tls);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    public static async Task<HttpResponseMessage> GetAsync(HttpClient client, string path, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        configure?.Invoke(request);
        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    /// <summary>The limits section of /status.</summary>
    public static async Task<JsonObject> LimitsAsync(SidecarHost sidecar) => (await sidecar.GetStatusAsync())["limits"]!.AsObject();

    /// <summary>The rule named <paramref name="name"/> in the limits section.</summary>
    public static JsonObject? Rule(JsonObject status, string name) =>
        status["limits"]?["rules"]?.AsArray().Select(r => r!.AsObject()).SingleOrDefault(r => (string?)r["name"] == name);

    /// <summary>One sample of the Prometheus text at /metrics (0 when absent).</summary>
    public static async Task<double> MetricAsync(SidecarHost sidecar, string series)
    {
        using var client = sidecar.CreateAdminClient();
        var text = await client.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>Polls <paramref name="condition"/> with a deadline.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string because)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Condition never held: " + because);
            }

            await Task.Delay(20);
        }
    }
}
