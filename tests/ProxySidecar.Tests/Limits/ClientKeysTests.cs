using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using ProxySidecar.Limits;

namespace ProxySidecar.Tests.Limits;

public sealed class ClientKeysTests
{
    private static readonly IPNetwork[] Proxies = [IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("fd00::/8")];

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]                             // a client behind one proxy
    [InlineData("198.51.100.1, 203.0.113.7", "203.0.113.7")]               // whatever the client prepended is ignored
    [InlineData("203.0.113.7, 10.1.2.3", "203.0.113.7")]                   // two proxies of ours
    [InlineData("203.0.113.7:4711", "203.0.113.7")]                        // with a port
    [InlineData("[2001:db8::7]:443", "2001:db8::7")]
    [InlineData("2001:db8::7", "2001:db8::7")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7")]
    [InlineData("unknown", "10.0.0.5")]                                    // not an address: the last trusted hop
    [InlineData("203.0.113.7, garbage", "10.0.0.5")]
    [InlineData("", "10.0.0.5")]
    [InlineData("10.9.9.9", "10.9.9.9")]                                    // only proxies: the farthest one
    public void FromForwardedFor_TakesTheRightmostAddressThatIsNotATrustedProxy(string header, string expected)
    {
        var client = ClientKeys.FromForwardedFor(IPAddress.Parse("10.0.0.5"), new StringValues(header), Proxies);

        Assert.Equal(IPAddress.Parse(expected), client);
    }

    [Fact]
    public void FromForwardedFor_SeveralHeaderFields_AreReadAsOneListInOrder()
    {
        var client = ClientKeys.FromForwardedFor(IPAddress.Parse("10.0.0.5"), new StringValues(["203.0.113.9", "10.0.0.1"]), Proxies);

        Assert.Equal(IPAddress.Parse("203.0.113.9"), client);
    }

    [Fact]
    public void ClientAddress_ConnectionNotFromATrustedProxy_HeaderIsIgnored()
    {
        var context = Context("198.51.100.20", "203.0.113.7");

        Assert.Equal(IPAddress.Parse("198.51.100.20"), ClientKeys.ClientAddress(context, Proxies));
    }

    [Fact]
    public void ClientAddress_NoTrustedProxies_HeaderIsIgnoredEvenFromPrivateAddresses()
    {
        var context = Context("10.0.0.5", "203.0.113.7");

        Assert.Equal(IPAddress.Parse("10.0.0.5"), ClientKeys.ClientAddress(context, []));
    }

    [Fact]
    public void ClientAddress_DualStackListener_MappedAddressIsTheIPv4Address()
    {
        var context = Context("::ffff:10.0.0.5", "203.0.113.7");

        Assert.Equal(IPAddress.Parse("203.0.113.7"), ClientKeys.ClientAddress(context, Proxies));
    }

    [Fact]
    public void AddressKey_IPv6_IsGroupedByThePrefix()
    {
        var a = ClientKeys.AddressKey(IPAddress.Parse("2001:db8:1:2:aaaa::1"), 64);
        var b = ClientKeys.AddressKey(IPAddress.Parse("2001:db8:1:2:bbbb::2"), 64);
        var other = ClientKeys.AddressKey(IPAddress.Parse("2001:db8:1:3::1"), 64);

        Assert.Equal(a, b);
        Assert.NotEqual(a, other);
        Assert.NotEqual(
            ClientKeys.AddressKey(IPAddress.Parse("2001:db8:1:2:aaaa::1"), 128),
            ClientKeys.AddressKey(IPAddress.Parse("2001:db8:1:2:bbbb::2"), 128));
    }

    [Fact]
    public void AddressKey_IPv4_IsWholeAndTheSameAsItsMappedForm()
    {
        Assert.Equal(ClientKeys.AddressKey(IPAddress.Parse("203.0.113.7"), 64), ClientKeys.AddressKey(IPAddress.Parse("::ffff:203.0.113.7"), 64));
        Assert.NotEqual(ClientKeys.AddressKey(IPAddress.Parse("203.0.113.7"), 64), ClientKeys.AddressKey(IPAddress.Parse("203.0.113.8"), 64));
    }

    [Fact]
    public void Text_LongValue_IsReplacedByAShortHash()
    {
        var longValue = new string('k', 10_000);

        var text = ClientKeys.Text(longValue)!;

        Assert.True(text.Length <= 7 + 64, text);
        Assert.Equal(text, ClientKeys.Text(longValue));
        Assert.NotEqual(text, ClientKeys.Text(longValue + "x"));
        Assert.Equal("short", ClientKeys.Text("short"));
        Assert.Null(ClientKeys.Text("  "));
    }

    private static DefaultHttpContext Context(string remote, string forwardedFor)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        context.Request.Headers[ClientKeys.ForwardedForHeader] = forwardedFor;
        return context;
    }
}
