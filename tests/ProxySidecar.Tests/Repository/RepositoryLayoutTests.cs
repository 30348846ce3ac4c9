namespace ProxySidecar.Tests.Repository;

/// <summary>The promises the repository makes to its users: the README's test command is what CI runs.</summary>
public sealed class RepositoryLayoutTests
{
    private static readonly string Root = FindRoot();

    [Fact]
    public void CiScript_RunsExactlyTheReadmeTestCommand()
    {
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        var ci = File.ReadAllLines(Path.Combine(Root, ".ci", "run"));
        var marker = Array.FindIndex(ci, line => line.Trim() == "# The test command, exactly as README.md gives it:");
        Assert.True(marker >= 0 && marker + 1 < ci.Length, ".ci/run names no test command");
        var command = ci[marker + 1].Trim();

        Assert.Equal("bash tests/run.sh", command);
        Assert.Contains("\n" + command + "\n", readme.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Root, "tests", "run.sh")), "tests/run.sh");
    }

    [Theory]
    [InlineData("src")]
    [InlineData("tests")]
    [InlineData("certs")]
    [InlineData("k8s")]
    [InlineData("docs")]
    [InlineData("samples/DemoApp")]
    public void RequiredDirectory_Exists(string name) => Assert.True(Directory.Exists(Path.Combine(Root, name)), name);

    [Theory]
    [InlineData("ProxySidecar.sln")]
    [InlineData("Directory.Build.props")]
    [InlineData("Directory.Packages.props")]
    [InlineData("Dockerfile")]
    [InlineData("README.md")]
    [InlineData(".gitignore")]
    [InlineData("LICENSE")]
    [InlineData("CHANGELOG.md")]
    [InlineData("src/ProxySidecar/appsettings.example.json")]
    [InlineData("samples/try-it.sh")]
    public void RequiredFile_Exists(string name) => Assert.True(File.Exists(Path.Combine(Root, name)), name);

    internal static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ProxySidecar.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("ProxySidecar.sln not found above " + AppContext.BaseDirectory);
    }
}
