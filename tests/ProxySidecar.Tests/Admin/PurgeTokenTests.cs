using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using ProxySidecar.Admin;

namespace ProxySidecar.Tests.Admin;

public sealed class PurgeTokenTests : IDisposable
{
    private const string Token = "0123456789abcdef0123456789abcdef";
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxysidecar-unit", Guid.NewGuid().ToString("N"));

    public PurgeTokenTests() => Directory.CreateDirectory(_directory);

    [Fact]
    public void Matches_TheConfiguredToken_True()
    {
        Assert.True(Source(new PurgeOptions { PurgeToken = Token }).Matches(Token));
    }

    [Theory]
    [InlineData("0123456789abcdef0123456789abcdeX")]
    [InlineData("0123456789abcdef")]
    [InlineData("")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Matches_AnyOtherToken_False(string presented)
    {
        Assert.False(Source(new PurgeOptions { PurgeToken = Token }).Matches(presented));
    }

    [Fact]
    public void Matches_NoTokenPresented_False()
    {
        Assert.False(Source(new PurgeOptions { PurgeToken = Token }).Matches(null));
    }

    [Fact]
    public void Matches_NoTokenConfigured_FalseAndNotConfigured()
    {
        var source = Source(new PurgeOptions());

        Assert.False(source.IsConfigured);
        Assert.False(source.Matches(""));
    }

    [Fact]
    public void Hash_AnyLength_IsAlwaysTheSameFixedLength()
    {
        // Comparing fixed-length hashes keeps FixedTimeEquals from returning early on a length difference.
        Assert.Equal(32, PurgeTokenSource.Hash("a").Length);
        Assert.Equal(32, PurgeTokenSource.Hash(new string('a', 10_000)).Length);
    }

    [Fact]
    public void Matches_TokenFileRotated_NewTokenAppliesAndOldIsRefused()
    {
        var file = Path.Combine(_directory, "token");
        File.WriteAllText(file, Token + "\n");
        var source = Source(new PurgeOptions { PurgeTokenFile = file });
        Assert.True(source.Matches(Token));

        const string rotated = "fedcba9876543210fedcba9876543210";
        File.WriteAllText(file, rotated);

        Assert.True(source.Matches(rotated));
        Assert.False(source.Matches(Token));
    }

    [Fact]
    public void Matches_TokenFileDisappears_KeepsTheLastTokenRead()
    {
        var file = Path.Combine(_directory, "token");
        File.WriteAllText(file, Token);
        var source = Source(new PurgeOptions { PurgeTokenFile = file });
        Assert.True(source.Matches(Token));

        File.Delete(file);

        Assert.True(source.Matches(Token));
    }

    [Fact]
    public void Validate_TokenAndFileBoth_Rejected()
    {
        var file = Path.Combine(_directory, "token");
        File.WriteAllText(file, Token);

        var result = new PurgeOptionsValidator().Validate(null, new PurgeOptions { PurgeToken = Token, PurgeTokenFile = file });

        Assert.True(result.Failed);
        Assert.Contains("PurgeTokenFile", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ShortToken_RejectedWithHowToMakeOne()
    {
        var result = new PurgeOptionsValidator().Validate(null, new PurgeOptions { PurgeToken = "secret" });

        Assert.True(result.Failed);
        Assert.Contains("Sidecar:Admin:PurgeToken", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("openssl rand", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MissingTokenFile_NamesThePath()
    {
        var missing = Path.Combine(_directory, "nope");

        var result = new PurgeOptionsValidator().Validate(null, new PurgeOptions { PurgeTokenFile = missing });

        Assert.True(result.Failed);
        Assert.Contains(missing, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NothingConfigured_Valid()
    {
        Assert.True(new PurgeOptionsValidator().Validate(null, new PurgeOptions()).Succeeded);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static PurgeTokenSource Source(PurgeOptions options) => new(Options.Create(options), NullLogger<PurgeTokenSource>.Instance);
}
