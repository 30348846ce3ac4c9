using System.Collections.Concurrent;
using System.Diagnostics;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>
/// Every kustomization in the repository, rendered with the real <c>kubectl kustomize</c> once per test run
/// and parsed strictly into the Kubernetes API models (unknown fields fail).
/// </summary>
internal static class Kustomize
{
    /// <summary>Kinds outside the Kubernetes API that the manifests use, modelled in <see cref="CertManagerCertificate"/> and beside it.</summary>
    public static readonly Dictionary<string, Type> ExtraKinds = new(StringComparer.Ordinal)
    {
        ["cert-manager.io/v1/Certificate"] = typeof(CertManagerCertificate),
        ["monitoring.coreos.com/v1/PodMonitor"] = typeof(PodMonitor),
        ["monitoring.coreos.com/v1/PrometheusRule"] = typeof(PrometheusRule),
    };

    private static readonly string[] FileNames = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

    private static readonly HashSet<string> NotSearched = new(StringComparer.Ordinal) { ".git", "bin", "obj", "out", "TestResults", "node_modules" };

    private static readonly Lazy<IReadOnlyList<KustomizationFile>> AllFiles = new(Discover);

    private static readonly ConcurrentDictionary<string, Lazy<Rendered>> Renders = new(StringComparer.Ordinal);

    /// <summary>The kubectl on PATH, or null.</summary>
    public static string? Kubectl { get; } = FindOnPath("kubectl");

    /// <summary>Why the render tests are skipped here; null when they run (kubectl installed, or CI=true, where a missing kubectl fails them).</summary>
    public static string? SkipReason =>
        Kubectl is not null || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? null
            : "kubectl is not installed, so the kustomizations cannot be rendered; with CI=true these tests fail instead of skipping.";

    /// <summary>Every kustomization file in the repository (kind Kustomization or Component), by directory relative to the root.</summary>
    public static IReadOnlyList<KustomizationFile> Files => AllFiles.Value;

    /// <summary>The directories of every kustomization of kind Kustomization (the ones that render by themselves).</summary>
    public static IEnumerable<string> Renderable => Files.Where(f => f.Kind == "Kustomization").Select(f => f.Directory);

    public static TheoryData<string> RenderableData()
    {
        var data = new TheoryData<string>();
        foreach (var directory in Renderable)
        {
            data.Add(directory);
        }

        return data;
    }

    /// <summary><c>kubectl kustomize</c> of a directory relative to the repository root (or absolute), rendered once per run.</summary>
    public static Rendered Render(string directory) =>
        Renders.GetOrAdd(directory, d => new Lazy<Rendered>(() => RenderNow(d), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    private static Rendered RenderNow(string directory)
    {
        if (Kubectl is null)
        {
            throw new InvalidOperationException(
                "kubectl is not on PATH, so the kustomizations cannot be rendered. It is installed on the project's machines; " +
                "install kubectl 1.27 or newer (Debian's kubernetes-client 1.20 is too old for kustomize components).");
        }

        var full = Path.IsPathRooted(directory) ? directory : RepositoryRoot.Combine(directory);
        var (exitCode, stdout, stderr) = Run(Kubectl, "kustomize", full);
        if (exitCode != 0)
        {
            var version = Run(Kubectl, "version", "--client").Stdout.Trim();
            throw new InvalidOperationException($"kubectl kustomize {directory} failed ({exitCode}):\n{stderr}\n({version})");
        }

        return new Rendered(directory, stdout, KubernetesYaml.LoadAllFromString(stdout, ExtraKinds, strict: true));
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(string executable, params string[] arguments)
    {
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{executable} {string.Join(' ', arguments)} did not finish within 60 s.");
        }

        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static List<KustomizationFile> Discover()
    {
        var found = new List<KustomizationFile>();
        Walk(new DirectoryInfo(RepositoryRoot.Path));
        return found.OrderBy(f => f.Directory, StringComparer.Ordinal).ToList();

        void Walk(DirectoryInfo directory)
        {
            foreach (var name in FileNames)
            {
                var file = Path.Combine(directory.FullName, name);
                if (File.Exists(file))
                {
                    found.Add(KustomizationFile.Read(Path.GetRelativePath(RepositoryRoot.Path, directory.FullName), file));
                    break;
                }
            }

            foreach (var child in directory.EnumerateDirectories().Where(d => !NotSearched.Contains(d.Name) && !d.Attributes.HasFlag(FileAttributes.ReparsePoint)))
            {
                Walk(child);
            }
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);
}

/// <summary>A kustomization file: its kind and the directories it pulls in (resources that are directories, and components).</summary>
internal sealed record KustomizationFile(string Directory, string Kind, IReadOnlyList<string> Resources, IReadOnlyList<string> Components)
{
    public static KustomizationFile Read(string directory, string file)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(file))
        {
            stream.Load(reader);
        }

        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var kind = root.Children.TryGetValue(new YamlScalarNode("kind"), out var k) ? ((YamlScalarNode)k).Value! : "Kustomization";
        return new KustomizationFile(directory, kind, Strings(root, "resources", directory), Strings(root, "components", directory));
    }

    private static List<string> Strings(YamlMappingNode root, string key, string directory) =>
        root.Children.TryGetValue(new YamlScalarNode(key), out var node) && node is YamlSequenceNode list
            ? list.Children.Select(c => ((YamlScalarNode)c).Value!)
                .Select(p => Path.GetRelativePath(RepositoryRoot.Path, Path.GetFullPath(Path.Combine(RepositoryRoot.Combine(directory), p))))
                .ToList()
            : [];
}

/// <summary>The output of one <c>kubectl kustomize</c>, parsed.</summary>
internal sealed record Rendered(string Directory, string Yaml, IReadOnlyList<object> Objects)
{
    public IEnumerable<V1Deployment> Deployments => Objects.OfType<V1Deployment>();

    /// <summary>Deployments whose pods carry ProxySidecar, with the sidecar container.</summary>
    public IEnumerable<(V1Deployment Deployment, V1Container Sidecar)> WithSidecar =>
        Deployments.Select(d => (d, Manifest.Sidecar(d.Spec.Template.Spec))).Where(p => p.Item2 is not null).Select(p => (p.d, p.Item2!));

    public IEnumerable<T> OfKind<T>() => Objects.OfType<T>();

    public V1ConfigMap? ConfigMap(string name) => Objects.OfType<V1ConfigMap>().SingleOrDefault(c => c.Metadata.Name == name);

    public override string ToString() => Directory;
}

/// <summary>Small helpers over the API models.</summary>
internal static class Manifest
{
    public const string SidecarName = "proxysidecar";

    public static V1Container? Sidecar(V1PodSpec pod) =>
        (pod.InitContainers ?? []).Concat(pod.Containers ?? []).SingleOrDefault(c => c.Name == SidecarName);

    public static IEnumerable<V1Container> AllContainers(V1PodSpec pod) => (pod.InitContainers ?? []).Concat(pod.Containers ?? []);

    public static int ContainerPort(V1Container container, string name) => Assert.Single(container.Ports, p => p.Name == name).ContainerPort;

    public static int Resolve(V1Container container, IntOrString port) =>
        int.TryParse(port.Value, out var number) ? number : ContainerPort(container, port.Value);

    public static string? Env(V1Container container, string name) => container.Env?.FirstOrDefault(e => e.Name == name)?.Value;

    /// <summary>True when every pair of <paramref name="selector"/> is among <paramref name="labels"/> (an empty selector matches everything).</summary>
    public static bool Matches(IDictionary<string, string>? selector, IDictionary<string, string>? labels) =>
        (selector ?? new Dictionary<string, string>()).All(p => labels is not null && labels.TryGetValue(p.Key, out var v) && v == p.Value);

    public static bool Matches(V1LabelSelector? selector, IDictionary<string, string>? labels)
    {
        Assert.True(selector?.MatchExpressions is null or { Count: 0 }, "matchExpressions are not checked here; use matchLabels");
        return Matches(selector?.MatchLabels, labels);
    }
}
