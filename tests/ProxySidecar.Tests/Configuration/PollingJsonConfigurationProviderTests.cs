using ProxySidecar.Configuration;

namespace ProxySidecar.Tests.Configuration;

public sealed class PollingJsonConfigurationProviderTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "proxysidecar-unit", Guid.NewGuid().ToString("N"));
    private readonly ConfigFileStatus _status;
    private readonly PollingJsonConfigurationProvider _provider;
    private int _reloads;
    private int _failures;

    public PollingJsonConfigurationProviderTests()
    {
        Directory.CreateDirectory(_directory);
        _status = new ConfigFileStatus(FilePath);
        _status.Reloaded += () => _reloads++;
        _status.Failed += _ => _failures++;
        _provider = new PollingJsonConfigurationProvider(new PollingJsonConfigurationSource(FilePath, TimeSpan.FromHours(1), _status));
    }

    private string FilePath => Path.Combine(_directory, "config.json");

    [Fact]
    public void Load_NoFile_NoValues()
    {
        _provider.Load();

        Assert.False(_provider.TryGet("Sidecar:Upstream:Address", out _));
    }

    [Fact]
    public void Load_File_ItsValuesByKey()
    {
        File.WriteAllText(FilePath, """{ "Sidecar": { "Upstream": { "Address": "http://127.0.0.1:9000" } } }""");

        _provider.Load();

        Assert.True(_provider.TryGet("Sidecar:Upstream:Address", out var value));
        Assert.Equal("http://127.0.0.1:9000", value);
    }

    [Fact]
    public void Load_MalformedFile_Throws()
    {
        File.WriteAllText(FilePath, "{ nope");

        Assert.Throws<FormatException>(_provider.Load);
    }

    [Fact]
    public void Poll_ContentChanged_NewValuesAndChangeSignalled()
    {
        File.WriteAllText(FilePath, """{ "A": "1" }""");
        _provider.Load();
        var token = _provider.GetReloadToken();

        File.WriteAllText(FilePath, """{ "A": "2" }""");
        _provider.Poll();

        Assert.True(_provider.TryGet("A", out var value));
        Assert.Equal("2", value);
        Assert.True(token.HasChanged);
        Assert.Equal(1, _reloads);
    }

    [Fact]
    public void Poll_ContentUnchanged_NoChangeSignalled()
    {
        File.WriteAllText(FilePath, """{ "A": "1" }""");
        _provider.Load();
        var token = _provider.GetReloadToken();
        File.SetLastWriteTimeUtc(FilePath, DateTime.UtcNow.AddMinutes(1));

        _provider.Poll();

        Assert.False(token.HasChanged);
        Assert.Equal(0, _reloads);
    }

    [Fact]
    public void Poll_MalformedChange_KeepsLastGoodValuesAndReportsOnce()
    {
        File.WriteAllText(FilePath, """{ "A": "1" }""");
        _provider.Load();
        var token = _provider.GetReloadToken();

        File.WriteAllText(FilePath, """{ "A": """);
        _provider.Poll();
        _provider.Poll();

        Assert.True(_provider.TryGet("A", out var value));
        Assert.Equal("1", value);
        Assert.False(token.HasChanged);
        Assert.Equal(1, _failures);
        Assert.NotNull(_status.LastError);
    }

    [Fact]
    public void Poll_SymlinkSwappedToNewContent_NewValues()
    {
        Directory.CreateDirectory(Path.Combine(_directory, "..v1"));
        Directory.CreateDirectory(Path.Combine(_directory, "..v2"));
        File.WriteAllText(Path.Combine(_directory, "..v1", "config.json"), """{ "A": "1" }""");
        File.WriteAllText(Path.Combine(_directory, "..v2", "config.json"), """{ "A": "2" }""");
        File.CreateSymbolicLink(Path.Combine(_directory, "..data"), "..v1");
        File.CreateSymbolicLink(FilePath, Path.Combine("..data", "config.json"));
        _provider.Load();

        File.Delete(Path.Combine(_directory, "..data"));
        File.CreateSymbolicLink(Path.Combine(_directory, "..data"), "..v2");
        _provider.Poll();

        Assert.True(_provider.TryGet("A", out var value));
        Assert.Equal("2", value);
    }

    [Fact]
    public void Poll_FileRemoved_ValuesCleared()
    {
        File.WriteAllText(FilePath, """{ "A": "1" }""");
        _provider.Load();

        File.Delete(FilePath);
        _provider.Poll();

        Assert.False(_provider.TryGet("A", out _));
        Assert.Equal(1, _reloads);
    }

    public void Dispose()
    {
        _provider.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
