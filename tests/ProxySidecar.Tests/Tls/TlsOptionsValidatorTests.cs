using ProxySidecar.Tls;

namespace ProxySidecar.Tests.Tls;

public sealed class TlsOptionsValidatorTests
{
    private static readonly TlsOptionsValidator Validator = new();

    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        Assert.True(Validator.Validate(null, new TlsOptions()).Succeeded);
    }

    [Fact]
    public void Validate_EveryValueBad_NamesEveryKey()
    {
        var result = Validator.Validate(null, new TlsOptions
        {
            CertificatePath = " ",
            KeyPath = "",
            ReloadInterval = TimeSpan.Zero,
            HandshakeTimeout = TimeSpan.Zero,
        });

        var failures = result.Failures!.ToList();
        Assert.Equal(4, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("Sidecar:Tls:CertificatePath", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Sidecar:Tls:KeyPath", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Sidecar:Tls:ReloadInterval", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Sidecar:Tls:HandshakeTimeout", StringComparison.Ordinal));
    }
}
