using ProxySidecar.Proxy;

namespace ProxySidecar.Tests.Proxy;

public sealed class UpstreamOptionsValidatorTests
{
    private static readonly UpstreamOptionsValidator Validator = new();

    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        Assert.True(Validator.Validate(null, new UpstreamOptions()).Succeeded);
    }

    [Theory]
    [InlineData("not-a-url")]
    [InlineData("ftp://127.0.0.1:21")]
    [InlineData("/relative")]
    [InlineData("http://127.0.0.1:8080/base")]
    [InlineData("http://127.0.0.1:8080/?q=1")]
    public void Validate_BadAddress_NamesAddress(string address)
    {
        var result = Validator.Validate(null, new UpstreamOptions { Address = address });

        Assert.StartsWith("Sidecar:Upstream:Address", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(UpstreamOptions.ConnectTimeout))]
    [InlineData(nameof(UpstreamOptions.ResponseTimeout))]
    [InlineData(nameof(UpstreamOptions.Protocol))]
    [InlineData(nameof(UpstreamOptions.MaxConnections))]
    [InlineData(nameof(UpstreamOptions.ProbeInterval))]
    [InlineData(nameof(UpstreamOptions.ProbePath))]
    public void Validate_OneBadValue_NamesItsKey(string property)
    {
        var options = new UpstreamOptions();
        switch (property)
        {
            case nameof(UpstreamOptions.ConnectTimeout): options.ConnectTimeout = TimeSpan.FromDays(-1); break;
            case nameof(UpstreamOptions.ResponseTimeout): options.ResponseTimeout = TimeSpan.Zero; break;
            case nameof(UpstreamOptions.Protocol): options.Protocol = (UpstreamProtocol)7; break;
            case nameof(UpstreamOptions.MaxConnections): options.MaxConnections = 0; break;
            case nameof(UpstreamOptions.ProbeInterval): options.ProbeInterval = TimeSpan.FromMilliseconds(1); break;
            case nameof(UpstreamOptions.ProbePath): options.ProbePath = "healthz"; break;
        }

        var result = Validator.Validate(null, options);

        Assert.StartsWith($"Sidecar:Upstream:{property}", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralBadValues_ReportsThemAllTogether()
    {
        var result = Validator.Validate(null, new UpstreamOptions { Address = "nope", ConnectTimeout = TimeSpan.Zero, ResponseTimeout = TimeSpan.Zero });

        Assert.Equal(3, result.Failures!.Count());
    }
}
