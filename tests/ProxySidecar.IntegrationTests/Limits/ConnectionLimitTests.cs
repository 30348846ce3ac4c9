using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using ProxySidecar.IntegrationTests.Infrastructure;
using static ProxySidecar.IntegrationTests.Limits.LimitsTestClients;

namespace ProxySidecar.IntegrationTests.Limits;

/// <summary>The per-client connection limit on the public port: a client address at its limit gets no new connection, others do.</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task ClientAtItsLimit_NewConnectionIsClosedBeforeTheHandshake_OtherClientsAndLaterConnectionsAreServed()
    {
        await using var stack = await SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Limits:MaxConnectionsPerClient"] = "2",
        });
        var open = new List<(TcpClient Tcp, SslStream Tls)>
        {
            await ConnectTlsAsync(stack.Sidecar, Loopback(1)),
            await ConnectTlsAsync(stack.Sidecar, Loopback(1)),
        };
        try
        {
            var refused = await Record.ExceptionAsync(() => ConnectTlsAsync(stack.Sidecar, Loopback(1)));
            var connections = (await LimitsAsync(stack.Sidecar))["connections"]!;

            HttpStatusCode otherStatus;
            using (var other = CreateClientFrom(stack.Sidecar, Loopback(2)))
            using (var otherResponse = await GetAsync(other, "/from-another-client"))
            {
                otherStatus = otherResponse.StatusCode;
            }

            Assert.True(refused is IOException or System.Security.Authentication.AuthenticationException, $"the third connection was not refused: {refused}");
            Assert.Equal(HttpStatusCode.OK, otherStatus);
            Assert.Equal(1, (long)connections["rejected"]!);
            Assert.Equal(2, (long)connections["open"]!);
            Assert.Equal(1, await MetricAsync(stack.Sidecar, "proxysidecar_limits_connections_rejected_total"));

            // One closes (and the other client's has closed): the client may connect again once the sidecar has seen it go.
            open[0].Tls.Dispose();
            open[0].Tcp.Dispose();
            open.RemoveAt(0);
            await EventuallyAsync(async () => (long)(await LimitsAsync(stack.Sidecar))["connections"]!["open"]! == 1, "the closed connection is no longer counted");
            using var again = CreateClientFrom(stack.Sidecar, Loopback(1));
            using var againResponse = await GetAsync(again, "/again");
            Assert.Equal(HttpStatusCode.OK, againResponse.StatusCode);
        }
        finally
        {
            foreach (var (tcp, tls) in open)
            {
                tls.Dispose();
                tcp.Dispose();
            }
        }
    }

    [Fact]
    public async Task NoLimit_ConnectionsAreCountedButNoneRefused()
    {
        await using var stack = await SidecarSetup.StartAsync();
        var open = new List<(TcpClient Tcp, SslStream Tls)>();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                open.Add(await ConnectTlsAsync(stack.Sidecar, Loopback(1)));
            }

            var connections = (await LimitsAsync(stack.Sidecar))["connections"]!;

            Assert.Null(connections["maxPerClient"]);
            Assert.Equal(5, (long)connections["open"]!);
            Assert.Equal(1, (int)connections["clients"]!);
            Assert.Equal(0, (long)connections["rejected"]!);
        }
        finally
        {
            foreach (var (tcp, tls) in open)
            {
                tls.Dispose();
                tcp.Dispose();
            }
        }
    }
}
