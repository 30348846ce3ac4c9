using ProxySidecar.Hosting;

namespace ProxySidecar.Tests.Hosting;

public sealed class HostingOptionsValidatorTests
{
    private static readonly HostingOptionsValidator Validator = new();

    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        Assert.True(Validator.Validate(null, new HostingOptions()).Succeeded);
    }

    [Theory]
    [InlineData(nameof(HostingOptions.HttpsPort))]
    [InlineData(nameof(HostingOptions.AdminPort))]
    [InlineData(nameof(HostingOptions.ListenAddress))]
    [InlineData(nameof(HostingOptions.AdminListenAddress))]
    [InlineData(nameof(HostingOptions.DrainTimeout))]
    [InlineData(nameof(HostingOptions.ShutdownDelay))]
    [InlineData(nameof(HostingOptions.MaxConnections))]
    [InlineData(nameof(HostingOptions.MaxRequestBodyBytes))]
    [InlineData(nameof(HostingOptions.MaxRequestHeadersTotalBytes))]
    [InlineData(nameof(HostingOptions.MaxRequestHeaderCount))]
    [InlineData(nameof(HostingOptions.MaxRequestLineBytes))]
    [InlineData(nameof(HostingOptions.RequestHeadersTimeout))]
    [InlineData(nameof(HostingOptions.KeepAliveTimeout))]
    [InlineData(nameof(HostingOptions.MinRequestBodyBytesPerSecond))]
    [InlineData(nameof(HostingOptions.MinRequestBodyGracePeriod))]
    [InlineData("RequestBuffering:MaxBytes")]
    [InlineData("RequestBuffering:MaxTotalBytes")]
    public void Validate_OneBadValue_NamesItsKey(string property)
    {
        var options = new HostingOptions();
        switch (property)
        {
            case nameof(HostingOptions.HttpsPort): options.HttpsPort = 70000; break;
            case nameof(HostingOptions.AdminPort): options.AdminPort = -1; break;
            case nameof(HostingOptions.ListenAddress): options.ListenAddress = "everywhere"; break;
            case nameof(HostingOptions.AdminListenAddress): options.AdminListenAddress = "localhost:9901"; break;
            case nameof(HostingOptions.DrainTimeout): options.DrainTimeout = TimeSpan.FromSeconds(-1); break;
            case nameof(HostingOptions.ShutdownDelay): options.ShutdownDelay = TimeSpan.FromHours(1); break;
            case nameof(HostingOptions.MaxConnections): options.MaxConnections = 0; break;
            case nameof(HostingOptions.MaxRequestBodyBytes): options.MaxRequestBodyBytes = -1; break;
            case nameof(HostingOptions.MaxRequestHeadersTotalBytes): options.MaxRequestHeadersTotalBytes = 10; break;
            case nameof(HostingOptions.MaxRequestHeaderCount): options.MaxRequestHeaderCount = 0; break;
            case nameof(HostingOptions.MaxRequestLineBytes): options.MaxRequestLineBytes = 10; break;
            case nameof(HostingOptions.RequestHeadersTimeout): options.RequestHeadersTimeout = TimeSpan.Zero; break;
            case nameof(HostingOptions.KeepAliveTimeout): options.KeepAliveTimeout = TimeSpan.Zero; break;
            case nameof(HostingOptions.MinRequestBodyBytesPerSecond): options.MinRequestBodyBytesPerSecond = -1; break;
            case nameof(HostingOptions.MinRequestBodyGracePeriod): options.MinRequestBodyGracePeriod = TimeSpan.FromSeconds(1); break;
            case "RequestBuffering:MaxBytes": options.RequestBuffering.MaxBytes = 0; options.RequestBuffering.MaxTotalBytes = 0; break;
            case "RequestBuffering:MaxTotalBytes": options.RequestBuffering.MaxTotalBytes = options.RequestBuffering.MaxBytes - 1; break;
        }

        var result = Validator.Validate(null, options);

        Assert.True(result.Failed);
        var failure = Assert.Single(result.Failures!);
        Assert.StartsWith($"Sidecar:Hosting:{property}", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SamePortTwice_NamesAdminPort()
    {
        var result = Validator.Validate(null, new HostingOptions { HttpsPort = 9000, AdminPort = 9000 });

        Assert.StartsWith("Sidecar:Hosting:AdminPort", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralBadValues_ReportsThemAllTogether()
    {
        var result = Validator.Validate(null, new HostingOptions { HttpsPort = 70000, AdminPort = 70001, DrainTimeout = TimeSpan.FromSeconds(-5) });

        Assert.Equal(3, result.Failures!.Count());
    }

    [Fact]
    public void Validate_MinimumBodyRateOff_AnyGracePeriodAccepted()
    {
        Assert.True(Validator.Validate(null, new HostingOptions { MinRequestBodyBytesPerSecond = 0, MinRequestBodyGracePeriod = TimeSpan.Zero }).Succeeded);
    }
}
