using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace ProxySidecar.IntegrationTests.Infrastructure;

/// <summary>
/// Sends exactly the bytes a test writes over TLS to the sidecar (HTTP/1.1), for request targets and
/// headers that HttpClient would normalise. Reads until the server closes the connection.
/// </summary>
public static class RawHttps
{
    public static async Task<string> SendAsync(SidecarHost sidecar, string request, TimeSpan? timeout = null) =>
        Encoding.UTF8.GetString(await SendBytesAsync(sidecar, Encoding.ASCII.GetBytes(request), timeout));

    /// <summary>
    /// Sends exactly <paramref name="request"/> and returns the response bytes as they arrived. With
    /// <paramref name="endInput"/>, the client then ends its side (TLS close_notify), so the server answers what it has
    /// and closes rather than waiting for more.
    /// </summary>
    public static async Task<byte[]> SendBytesAsync(SidecarHost sidecar, byte[] request, TimeSpan? timeout = null, bool endInput = false)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, sidecar.HttpsAddress.Port, cancel.Token);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(
            new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            },
            cancel.Token);
        await tls.WriteAsync(request, cancel.Token);
        await tls.FlushAsync(cancel.Token);
        if (endInput)
        {
            await tls.ShutdownAsync();
        }

        using var response = new MemoryStream();
        try
        {
            await tls.CopyToAsync(response, cancel.Token);
        }
        catch (IOException) when (endInput)
        {
            // The server reset the connection after answering (or instead of it): what arrived is the answer.
        }

        return response.ToArray();
    }
}
