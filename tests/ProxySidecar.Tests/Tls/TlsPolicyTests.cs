using System.Net.Security;
using System.Security.Authentication;
using ProxySidecar.Tls;

namespace ProxySidecar.Tests.Tls;

public sealed class TlsPolicyTests
{
    [Fact]
    public void Protocols_AreTls12AndTls13Only()
    {
        Assert.Equal(SslProtocols.Tls12 | SslProtocols.Tls13, TlsPolicy.Protocols);
    }

    [Fact]
    public void CipherSuites_Tls12_OnlyEcdheWithAeadCiphers()
    {
        var tls12 = TlsPolicy.CipherSuites.Select(s => s.ToString()).Where(n => n.StartsWith("TLS_ECDHE", StringComparison.Ordinal) || n.Contains("_WITH_", StringComparison.Ordinal)).ToList();

        Assert.NotEmpty(tls12);
        Assert.All(tls12, name =>
        {
            Assert.StartsWith("TLS_ECDHE_", name, StringComparison.Ordinal);
            Assert.True(name.Contains("_GCM_", StringComparison.Ordinal) || name.Contains("CHACHA20_POLY1305", StringComparison.Ordinal), name);
            Assert.DoesNotContain("CBC", name, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void ApplicationProtocols_OfferH2ThenHttp11()
    {
        Assert.Equal([SslApplicationProtocol.Http2, SslApplicationProtocol.Http11], TlsPolicy.ApplicationProtocols);
    }
}
