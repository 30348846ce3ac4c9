using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ProxySidecar.Tests.Logging;

/// <summary>The framework's per-request categories default to Warning in code; Logging:LogLevel still overrides them.</summary>
public sealed class FrameworkLogDefaultsTests
{
    [Theory]
    [InlineData("Microsoft.AspNetCore.Hosting.Diagnostics")]
    [InlineData("Microsoft.AspNetCore.Routing.EndpointMiddleware")]
    [InlineData("Yarp.ReverseProxy.Health.ActiveHealthCheckMonitor")]
    public void NoLoggingSettings_PerRequestCategoryQuiet_OwnCategoriesNot(string category)
    {
        using var app = Build();
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();

        Assert.False(loggers.CreateLogger(category).IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger(category).IsEnabled(LogLevel.Warning));
        Assert.True(loggers.CreateLogger("ProxySidecar.AccessLog").IsEnabled(LogLevel.Information));
    }

    [Theory]
    [InlineData("Microsoft.AspNetCore.Server.Kestrel.Http2", LogLevel.Critical)]
    [InlineData("Yarp.ReverseProxy.Forwarder.HttpForwarder", LogLevel.Warning)]
    public void NoLoggingSettings_CategoriesAnAttackerCanFlood_Quiet(string category, LogLevel notLogged)
    {
        using var app = Build();

        Assert.False(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(category).IsEnabled(notLogged));
    }

    [Fact]
    public void LogLevelSetForTheCategory_OverridesTheDefault()
    {
        using var app = Build("--Logging:LogLevel:Microsoft.AspNetCore=Information");

        Assert.True(app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void BuilderOptions_NoContentRootGiven_TheExecutablesDirectory()
    {
        Assert.Equal(AppContext.BaseDirectory, SidecarApplication.BuilderOptions([]).ContentRootPath);
        Assert.Null(SidecarApplication.BuilderOptions(["--contentRoot=/srv"]).ContentRootPath);
        Assert.Null(SidecarApplication.BuilderOptions(["--contentRoot", "/srv"]).ContentRootPath);
    }

    private static WebApplication Build(params string[] args)
    {
        // A content root without appsettings.json: only the defaults in code and the arguments apply.
        var empty = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "empty-content-root")).FullName;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = empty, EnvironmentName = "Production" });
        builder.AddProxySidecar();
        return builder.Build();
    }
}
