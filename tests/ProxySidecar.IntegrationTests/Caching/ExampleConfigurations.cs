using System.Text;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using ProxySidecar.IntegrationTests.Repository;

namespace ProxySidecar.IntegrationTests.Caching;

/// <summary>
/// Every cache configuration the repository shows a user: each ConfigMap under k8s/ carrying sidecar.json,
/// every JSON example with cache rules in README.md and docs/, and the shipped appsettings.json.
/// </summary>
public static partial class ExampleConfigurations
{
    public static IEnumerable<(string Source, Dictionary<string, string?> Settings)> All()
    {
        foreach (var file in Directory.EnumerateFiles(RepositoryRoot.Combine("k8s"), "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var text = File.ReadAllText(file);
            if (!text.Contains("sidecar.json", StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var map in KubernetesYaml.LoadAllFromString(text).OfType<V1ConfigMap>())
            {
                if (map.Data?.TryGetValue("sidecar.json", out var json) == true)
                {
                    yield return (Path.GetRelativePath(RepositoryRoot.Path, file), Flatten(json));
                }
            }
        }

        var documents = new List<string> { RepositoryRoot.Combine("README.md") };
        if (Directory.Exists(RepositoryRoot.Combine("docs")))
        {
            documents.AddRange(Directory.EnumerateFiles(RepositoryRoot.Combine("docs"), "*.md", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        }

        foreach (var document in documents)
        {
            var index = 0;
            foreach (Match block in JsonBlock().Matches(File.ReadAllText(document)))
            {
                var json = block.Groups[1].Value;
                index++;
                if (json.Contains("\"Rules\"", StringComparison.Ordinal) && json.Contains("\"Cache\"", StringComparison.Ordinal))
                {
                    yield return ($"{Path.GetRelativePath(RepositoryRoot.Path, document)} (JSON example {index})", Flatten(json));
                }
            }
        }

        yield return ("src/ProxySidecar/appsettings.json", Flatten(File.ReadAllText(RepositoryRoot.Combine("src", "ProxySidecar", "appsettings.json"))));
    }

    /// <summary>The settings of the configuration's Sidecar:Cache section, as configuration keys.</summary>
    public static Dictionary<string, string?> Flatten(string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        return configuration.AsEnumerable()
            .Where(kv => kv.Value is not null && kv.Key.StartsWith("Sidecar:Cache", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);
    }

    [GeneratedRegex("```json\\s*\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex JsonBlock();
}
