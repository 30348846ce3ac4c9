using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ProxySidecar.Hosting;

namespace ProxySidecar.Tests.Hosting;

/// <summary>The Kestrel limits the sidecar sets explicitly, rather than leaving Kestrel's defaults.</summary>
public sealed class ListenersTests
{
    [Fact]
    public void Configure_Defaults_SetsBodyRateHeadersTimeoutBufferAndLatin1Headers()
    {
        var kestrel = Configure(new HostingOptions());

        Assert.Equal(240, kestrel.Limits.MinRequestBodyDataRate!.BytesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(5), kestrel.Limits.MinRequestBodyDataRate.GracePeriod);
        Assert.Equal(TimeSpan.FromSeconds(30), kestrel.Limits.RequestHeadersTimeout);
        Assert.Equal(64 * 1024, kestrel.Limits.MaxRequestBufferSize);
        Assert.Same(Encoding.Latin1, kestrel.RequestHeaderEncodingSelector("X-Any"));
        Assert.Same(Encoding.Latin1, kestrel.ResponseHeaderEncodingSelector("X-Any"));
    }

    [Fact]
    public void Configure_MinimumBodyRateZero_CheckOff()
    {
        Assert.Null(Configure(new HostingOptions { MinRequestBodyBytesPerSecond = 0 }).Limits.MinRequestBodyDataRate);
    }

    [Fact]
    public void Configure_LargeRequestHeads_BufferHoldsOneWholeHead()
    {
        var kestrel = Configure(new HostingOptions { MaxRequestHeadersTotalBytes = 96 * 1024, MaxRequestLineBytes = 16 * 1024 });

        Assert.Equal(112 * 1024, kestrel.Limits.MaxRequestBufferSize);
    }

    /// <summary>Kestrel's options as the sidecar's own wiring sets them (built, not started).</summary>
    private static KestrelServerOptions Configure(HostingOptions hosting)
    {
        var args = new List<string>
        {
            "--Sidecar:Hosting:HttpsPort=0",
            "--Sidecar:Hosting:AdminPort=0",
            "--Sidecar:Hosting:MinRequestBodyBytesPerSecond=" + hosting.MinRequestBodyBytesPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--Sidecar:Hosting:MaxRequestHeadersTotalBytes=" + hosting.MaxRequestHeadersTotalBytes,
            "--Sidecar:Hosting:MaxRequestLineBytes=" + hosting.MaxRequestLineBytes,
        };
        var root = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "empty-content-root")).FullName;
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateBuilder(new Microsoft.AspNetCore.Builder.WebApplicationOptions { Args = [.. args], ContentRootPath = root, EnvironmentName = "Production" });
        builder.AddProxySidecar();
        var app = builder.Build();
        return app.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value;
    }
}
