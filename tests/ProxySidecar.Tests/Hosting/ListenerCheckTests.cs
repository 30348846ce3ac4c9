using System.Net.Sockets;
using ProxySidecar.Hosting;

namespace ProxySidecar.Tests.Hosting;

public sealed class ListenerCheckTests
{
    [Theory]
    [InlineData(SocketError.AddressAlreadyInUse, "Sidecar:Hosting:HttpsPort: 0.0.0.0:8443 is already in use by another process")]
    [InlineData(SocketError.AccessDenied, "Sidecar:Hosting:HttpsPort: no permission to listen on 0.0.0.0:8443; ports below 1024")]
    [InlineData(SocketError.AddressNotAvailable, "Sidecar:Hosting:ListenAddress: 0.0.0.0 is not an address of this machine")]
    public void Describe_BindError_NamesTheSettingToChange(SocketError error, string expectedStart)
    {
        var problem = ListenerCheck.Describe(error, "0.0.0.0", 8443, "Sidecar:Hosting:HttpsPort", "Sidecar:Hosting:ListenAddress", "8443");

        Assert.StartsWith(expectedStart, problem, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', problem);
    }

    [Fact]
    public void Check_PortZero_NotChecked()
    {
        Assert.Empty(ListenerCheck.Check(new HostingOptions { HttpsPort = 0, AdminPort = 0, ListenAddress = "127.0.0.1", AdminListenAddress = "127.0.0.1" }));
    }
}
