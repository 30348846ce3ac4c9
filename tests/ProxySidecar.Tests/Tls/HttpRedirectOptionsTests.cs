using ProxySidecar.Hosting;

namespace ProxySidecar.Tests.Tls;

public sealed class HttpRedirectOptionsTests
{
    [Fact]
    public void Validate_RedirectPortIsTheAdminPort_NamesTheSetting()
    {
        var options = new HostingOptions { HttpRedirectPort = 9901 };

        var result = new HostingOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures!, f => f.StartsWith("Sidecar:Hosting:HttpRedirectPort: 9901", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_PublicHttpsPortOutOfRange_NamesTheSetting()
    {
        var options = new HostingOptions { PublicHttpsPort = 0 };

        var result = new HostingOptionsValidator().Validate(null, options);

        Assert.Contains(result.Failures!, f => f.StartsWith("Sidecar:Hosting:PublicHttpsPort", StringComparison.Ordinal));
    }

    [Fact]
    public void Defaults_RedirectOffAndValid()
    {
        var options = new HostingOptions();

        Assert.Null(options.HttpRedirectPort);
        Assert.True(new HostingOptionsValidator().Validate(null, options).Succeeded);
    }
}
