using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ProxySidecar.Tls;

namespace ProxySidecar.Tests.Tls;

public sealed class TlsOptionsTests
{
    [Fact]
    public void Validate_RequireWithoutCaPath_NamesTheSetting()
    {
        var options = new TlsOptions { ClientCertificate = { Mode = ClientCertificateMode.Require } };

        var result = new TlsOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Sidecar:Tls:ClientCertificate:CaPath", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_Defaults_Succeed()
    {
        Assert.True(new TlsOptionsValidator().Validate(null, new TlsOptions()).Succeeded);
    }

    [Fact]
    public void Validate_PreloadWithoutIncludeSubDomains_Fails()
    {
        var options = new TlsOptions { Hsts = { MaxAge = TimeSpan.FromDays(365), Preload = true } };

        var result = new TlsOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures!, f => f.StartsWith("Sidecar:Tls:Hsts:Preload", StringComparison.Ordinal));
    }

    [Fact]
    public void HstsHeaderValue_Default_IsOff()
    {
        Assert.Null(HstsMiddleware.HeaderValue(new HstsOptions()));
    }

    [Fact]
    public void HstsHeaderValue_AllOptions_FollowsRfc6797()
    {
        var value = HstsMiddleware.HeaderValue(new HstsOptions { MaxAge = TimeSpan.FromDays(730), IncludeSubDomains = true, Preload = true });

        Assert.Equal("max-age=63072000; includeSubDomains; preload", value);
    }

    [Fact]
    public void ClientCertificateHeader_SubjectWithQuotes_IsEscapedInsideTheQuotedValue()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=\"odd\\name\", O=Example", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1));

        var value = ClientCertificateForwarding.Format(certificate);

        var hash = Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
        Assert.StartsWith($"Hash={hash};Subject=\"", value, StringComparison.Ordinal);
        var subject = value[(value.IndexOf("Subject=\"", StringComparison.Ordinal) + 9)..^1];
        Assert.DoesNotContain(subject.Replace("\\\\", "", StringComparison.Ordinal).Replace("\\\"", "", StringComparison.Ordinal), "\"", StringComparison.Ordinal);
    }
}
