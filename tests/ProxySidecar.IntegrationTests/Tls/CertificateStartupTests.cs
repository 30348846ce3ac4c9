using System.Net;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>A missing certificate stops start-up outside Development, and is replaced by a generated one in Development.</summary>
public sealed class CertificateStartupTests
{
    [Fact]
    public async Task MissingCertificate_Production_StartFailsNamingPathAndSetting()
    {
        using var temp = new TempDirectory();
        var missing = temp.Combine("absent", "tls.crt");

        var error = await Assert.ThrowsAnyAsync<Exception>(() => SidecarSetup.StartAsync(new Dictionary<string, string?>
        {
            ["Sidecar:Tls:CertificatePath"] = missing,
        }));

        var problems = StartupFailure.Describe(error);
        var problem = Assert.Single(problems);
        Assert.Contains(missing, problem, StringComparison.Ordinal);
        Assert.Contains("Sidecar:Tls:CertificatePath", problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingCertificate_Development_ServesAGeneratedCertificateWithAWarning()
    {
        var logs = new CapturedLogs();
        using var temp = new TempDirectory();
        await using var stack = await SidecarSetup.StartAsync(
            new Dictionary<string, string?>
            {
                ["Sidecar:Tls:CertificatePath"] = temp.Combine("absent", "tls.crt"),
                ["Sidecar:Tls:KeyPath"] = temp.Combine("absent", "tls.key"),
            },
            configureServices: logs.AddTo,
            environment: "Development");
        using var client = stack.Sidecar.CreateClient(configureTls: tls => tls.RemoteCertificateValidationCallback = (_, _, _, _) => true);

        using var response = await client.GetAsync(new Uri("/dev", UriKind.Relative));
        var status = await stack.Sidecar.GetStatusAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("generated", (string?)status["certificate"]?["source"]);
        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 202);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, warning.Level);
    }
}
