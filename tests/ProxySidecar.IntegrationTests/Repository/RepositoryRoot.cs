namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>The repository checkout the tests run from: the first folder above the test binaries holding ProxySidecar.sln.</summary>
internal static class RepositoryRoot
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "ProxySidecar.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No ProxySidecar.sln above {AppContext.BaseDirectory}.");
    });

    public static string Path => Root.Value;

    public static string Combine(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);
}
