using System.Net;
using System.Net.Sockets;

namespace ProxySidecar.Hosting;

/// <summary>
/// Before the listeners start: binds each configured address and port once (and lets go at once), so that a port
/// another process holds, a port the sidecar may not use or an address the machine does not have is reported as a
/// start-up problem naming the setting, together with every other one. Port 0 (a free port) is not checked.
/// </summary>
internal static class ListenerCheck
{
    /// <summary>One problem per listener that cannot bind, each naming the setting and what to change.</summary>
    public static IReadOnlyList<string> Check(HostingOptions hosting)
    {
        var problems = new List<string>();
        const string p = HostingOptions.Section + ":";
        Check(problems, hosting.ListenAddress, hosting.HttpsPort, p + nameof(HostingOptions.HttpsPort), p + nameof(HostingOptions.ListenAddress), "8443");
        Check(problems, hosting.AdminListenAddress, hosting.AdminPort, p + nameof(HostingOptions.AdminPort), p + nameof(HostingOptions.AdminListenAddress), "9901");
        if (hosting.HttpRedirectPort is { } redirect)
        {
            Check(problems, hosting.ListenAddress, redirect, p + nameof(HostingOptions.HttpRedirectPort), p + nameof(HostingOptions.ListenAddress), "e.g. 8080");
        }

        return problems;
    }

    /// <summary>The problem for a bind that failed with <paramref name="error"/>, naming the setting to change.</summary>
    internal static string Describe(SocketError error, string address, int port, string portSetting, string addressSetting, string defaultPort)
    {
        var endpoint = $"{address}:{port}";
        var variable = portSetting.Replace(":", "__", StringComparison.Ordinal);
        return error switch
        {
            SocketError.AddressAlreadyInUse =>
                $"{portSetting}: {endpoint} is already in use by another process. Stop that process or choose a free port (environment variable {variable}).",
            SocketError.AccessDenied =>
                $"{portSetting}: no permission to listen on {endpoint}; ports below 1024 need root or the NET_BIND_SERVICE capability. Use a port of 1024 or above (default {defaultPort}) and map the Service port to it, or grant the capability.",
            SocketError.AddressNotAvailable =>
                $"{addressSetting}: {address} is not an address of this machine (port {port}). Use 0.0.0.0 (every IPv4 interface), :: or an address the pod has.",
            _ => $"{portSetting}: cannot listen on {endpoint}: {new SocketException((int)error).Message}. Choose another port or address.",
        };
    }

    private static void Check(List<string> problems, string address, int port, string portSetting, string addressSetting, string defaultPort)
    {
        if (port == 0 || !IPAddress.TryParse(address, out var ip))
        {
            return;
        }

        try
        {
            using var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (ip.Equals(IPAddress.IPv6Any))
            {
                // As Kestrel binds "::": both IPv4 and IPv6.
                socket.DualMode = true;
            }

            socket.Bind(new IPEndPoint(ip, port));
        }
        catch (SocketException error)
        {
            problems.Add(Describe(error.SocketErrorCode, address, port, portSetting, addressSetting, defaultPort));
        }
    }
}
