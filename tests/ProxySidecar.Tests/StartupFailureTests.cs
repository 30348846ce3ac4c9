using Microsoft.Extensions.Options;

namespace ProxySidecar.Tests;

public sealed class StartupFailureTests
{
    [Fact]
    public void Describe_ValidationFailuresOfSeveralSections_ListsEveryOne()
    {
        var error = new AggregateException(
            new OptionsValidationException("Hosting", typeof(object), ["Sidecar:Hosting:HttpsPort: bad", "Sidecar:Hosting:AdminPort: bad"]),
            new OptionsValidationException("Upstream", typeof(object), ["Sidecar:Upstream:Address: bad"]));

        var problems = StartupFailure.Describe(error);

        Assert.Equal(["Sidecar:Hosting:HttpsPort: bad", "Sidecar:Hosting:AdminPort: bad", "Sidecar:Upstream:Address: bad"], problems);
    }

    [Fact]
    public void Describe_StartupExceptionWrappedByTheHost_ItsMessage()
    {
        var error = new InvalidOperationException("host failed", new SidecarStartupException("Sidecar:Tls:CertificatePath: cannot load"));

        Assert.Equal(["Sidecar:Tls:CertificatePath: cannot load"], StartupFailure.Describe(error));
    }

    [Theory]
    [InlineData("System.TimeSpan", "hh:mm:ss")]
    [InlineData("System.Boolean", "true or false")]
    [InlineData("System.Int32", "whole number")]
    [InlineData("System.Nullable`1[[System.Int32, System.Private.CoreLib, Version=10.0.0.0, Culture=neutral, PublicKeyToken=7cec85d7bea7798e]]", "whole number")]
    [InlineData("ProxySidecar.Proxy.UpstreamProtocol", "Http1, Http2")]
    public void Describe_ValueThatDoesNotConvert_NamesKeyValueAndHowToWriteIt(string type, string hint)
    {
        var error = new InvalidOperationException($"Failed to convert configuration value 'abc' at 'Sidecar:Upstream:Thing' to type '{type}'.");

        var problem = Assert.Single(StartupFailure.Describe(error));

        Assert.StartsWith("Sidecar:Upstream:Thing: \"abc\"", problem, StringComparison.Ordinal);
        Assert.Contains(hint, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_EnumSettingThatDoesNotConvert_ListsTheNames()
    {
        var error = new InvalidOperationException("Failed to convert configuration value 'Sometimes' at 'Sidecar:Tls:ClientCertificates:Mode' to type 'ProxySidecar.Tls.ClientCertificateMode'.");

        var problem = Assert.Single(StartupFailure.Describe(error));

        Assert.Contains("None, Allow", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_UnrelatedError_Empty()
    {
        Assert.Empty(StartupFailure.Describe(new InvalidOperationException("something else")));
    }

    [Fact]
    public void Guard_StartupProblem_ExitCode2()
    {
        Assert.Equal(StartupFailure.ExitCode, StartupFailure.Guard(() => throw new SidecarStartupException("Sidecar:X: bad")));
    }

    [Fact]
    public void Guard_StartupProblems_OneLinePerCauseUnderOneHeading()
    {
        using var stderr = new StringWriter();

        var exit = StartupFailure.Guard(
            () => throw new AggregateException(new SidecarStartupException("Sidecar:A: bad"), new SidecarStartupException("Sidecar:B: bad")),
            stderr);

        Assert.Equal(2, exit);
        Assert.Equal(["ProxySidecar cannot start:", "  - Sidecar:A: bad", "  - Sidecar:B: bad"], stderr.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Guard_UnexpectedError_ExitCode2NotACrash_NamesTheError()
    {
        using var stderr = new StringWriter();

        var exit = StartupFailure.Guard(() => throw new InvalidOperationException("bug"), stderr);

        Assert.Equal(2, exit);
        var lines = stderr.ToString().Split(Environment.NewLine);
        Assert.Equal("ProxySidecar cannot start:", lines[0]);
        Assert.StartsWith("  - an unexpected error: System.InvalidOperationException: bug", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_KestrelCouldNotBindBecauseTheAddressIsInUse_OneLineSayingWhatToChange()
    {
        var error = new IOException(
            "Failed to bind to address https://127.0.0.1:8443: address already in use.",
            new Microsoft.AspNetCore.Connections.AddressInUseException("Address already in use"));

        var problem = Assert.Single(StartupFailure.Describe(error));

        Assert.StartsWith("Failed to bind to address https://127.0.0.1:8443: address already in use.", problem, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Hosting:HttpsPort", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_SameProblemReportedTwice_ListedOnce()
    {
        var error = new AggregateException(
            new OptionsValidationException("Hosting", typeof(object), ["Sidecar:Hosting:HttpsPort: bad"]),
            new OptionsValidationException("Hosting", typeof(object), ["Sidecar:Hosting:HttpsPort: bad"]));

        Assert.Equal(["Sidecar:Hosting:HttpsPort: bad"], StartupFailure.Describe(error));
    }
}
