using System.Text.Json.Nodes;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Tls;

/// <summary>Each way a rotated secret can be broken keeps the old certificate serving, is reported and counted, and is followed normally by the next good pair.</summary>
public sealed class BadRotationTests
{
    public enum Breakage
    {
        TruncatedCertificate,
        KeyOfAnotherCertificate,
        Expired,
        NotYetValid,
        KeyMissingMidSwap,
    }

    [Theory]
    [InlineData(Breakage.TruncatedCertificate, "tls.crt", "no PEM certificate")]
    [InlineData(Breakage.KeyOfAnotherCertificate, "tls.key", "does not match")]
    [InlineData(Breakage.Expired, "tls.crt", "expired")]
    [InlineData(Breakage.NotYetValid, "tls.crt", "not valid before")]
    [InlineData(Breakage.KeyMissingMidSwap, "tls.key", "does not exist")]
    public async Task Reload_BadPair_KeepsServingOldCertificateReportsAndCountsThenTakesNextGoodPair(Breakage breakage, string namedFile, string reason)
    {
        using var temp = new TempDirectory();
        using var ca = new TestCertificateAuthority();
        var good = ca.Issue();
        var mount = KubeletSecretMount.ForPair(temp.Combine("tls"), good.ChainPem, good.KeyPem);
        await using var upstream = await TestUpstream.StartAsync();
        await using var sidecar = await CertificateRotationTests.StartAsync(upstream, mount, ca.Certificate);
        using var counter = new ReloadCounter(sidecar);

        mount.Update(BrokenFiles(breakage, ca));

        var status = await sidecar.WaitForStatusAsync(
            s => Certificate(s)["lastReload"]?["result"]?.GetValue<string>() == "failed",
            because: "the bad pair is reported");
        var error = Certificate(status)["lastReload"]!["error"]!.GetValue<string>();
        Assert.Contains(Path.Combine(mount.Path, namedFile), error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.Equal(good.Thumbprint, Certificate(status)["thumbprintSha256"]!.GetValue<string>());
        Assert.Equal(good.Thumbprint, await TlsProbe.ServedThumbprintAsync(sidecar, ca.Certificate));
        using (var client = sidecar.CreateClient())
        {
            Assert.Equal("upstream:/still-serving", await client.GetStringAsync(new Uri("/still-serving", UriKind.Relative)));
        }

        var next = ca.Issue();
        mount.Update(KubeletSecretMount.Pair(next.ChainPem, next.KeyPem));
        await TlsProbe.WaitForServedAsync(sidecar, ca.Certificate, next.Thumbprint, TimeSpan.FromSeconds(10), DateTime.UtcNow);

        status = await sidecar.WaitForStatusAsync(s => Certificate(s)["lastReload"]?["result"]?.GetValue<string>() == "reloaded");
        Assert.Equal(next.Thumbprint, Certificate(status)["thumbprintSha256"]!.GetValue<string>());
        Assert.Null(Certificate(status)["lastReload"]!["error"]);
        Assert.Equal(error, Certificate(status)["lastError"]!["error"]!.GetValue<string>());
        Assert.Equal(1, (long)Certificate(status)["reloads"]!["failed"]!);
        Assert.Equal(1, (long)Certificate(status)["reloads"]!["succeeded"]!);
        Assert.Equal(1, counter.Get("failure"));
        Assert.Equal(1, counter.Get("success"));
    }

    private static JsonObject Certificate(JsonObject status) => status["certificate"]!.AsObject();

    private static Dictionary<string, string> BrokenFiles(Breakage breakage, TestCertificateAuthority ca)
    {
        var pair = ca.Issue();
        var now = DateTimeOffset.UtcNow;
        switch (breakage)
        {
            case Breakage.TruncatedCertificate:
                return KubeletSecretMount.Pair(pair.ChainPem[..(pair.CertificatePem.Length / 2)], pair.KeyPem);
            case Breakage.KeyOfAnotherCertificate:
                return KubeletSecretMount.Pair(pair.ChainPem, ca.Issue().KeyPem);
            case Breakage.Expired:
                var expired = ca.Issue(notBefore: now.AddDays(-10), notAfter: now.AddDays(-1));
                return KubeletSecretMount.Pair(expired.ChainPem, expired.KeyPem);
            case Breakage.NotYetValid:
                var future = ca.Issue(notBefore: now.AddDays(1), notAfter: now.AddDays(30));
                return KubeletSecretMount.Pair(future.ChainPem, future.KeyPem);
            case Breakage.KeyMissingMidSwap:
                return new Dictionary<string, string>(StringComparer.Ordinal) { ["tls.crt"] = pair.ChainPem };
            default:
                throw new ArgumentOutOfRangeException(nameof(breakage));
        }
    }
}
