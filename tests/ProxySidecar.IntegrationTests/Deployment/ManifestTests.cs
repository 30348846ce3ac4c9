using System.Runtime.CompilerServices;
using k8s;
using k8s.Models;
using ProxySidecar.Admin;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;
using ProxySidecar.Tls;

namespace ProxySidecar.IntegrationTests.Deployment;

/// <summary>The manifests in k8s/ are valid Kubernetes objects and agree with the application's defaults.</summary>
public sealed class ManifestTests
{
    private static readonly Dictionary<string, Type> ExtraKinds = new(StringComparer.Ordinal)
    {
        ["cert-manager.io/v1/Certificate"] = typeof(CertManagerCertificate),
        ["kustomize.config.k8s.io/v1beta1/Kustomization"] = typeof(Kustomization),
    };

    private static readonly HostingOptions Hosting = new();
    private static readonly TlsOptions Tls = new();

    public static TheoryData<string> ManifestFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(RepositoryRoot.Combine("k8s"), "*.*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(RepositoryRoot.Path, file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void EveryYamlFile_ParsesStrictlyAsKubernetesObjects(string file)
    {
        var objects = Load(file);

        Assert.NotEmpty(objects);
        Assert.All(objects, o => Assert.False(string.IsNullOrEmpty(((IMetadata<V1ObjectMeta>)o).Metadata?.Name) && o is not Kustomization, $"{file}: an object without a name"));
    }

    [Fact]
    public void StrictParsing_UnknownField_IsRejected()
    {
        const string yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  portz: []\n";

        var error = Assert.ThrowsAny<YamlDotNet.Core.YamlException>(() => KubernetesYaml.LoadAllFromString(yaml, ExtraKinds, strict: true));
        Assert.Contains("portz", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sidecar_IsANativeSidecarInitContainerWithTheApplicationsPorts()
    {
        var sidecar = Sidecar();

        Assert.Equal("Always", sidecar.RestartPolicy);
        Assert.Equal(Hosting.HttpsPort, ContainerPort(sidecar, "https"));
        Assert.Equal(Hosting.AdminPort, ContainerPort(sidecar, "admin"));
        Assert.Equal(2, sidecar.Ports.Count);
    }

    [Fact]
    public void TlsSecret_IsMountedReadOnlyAsADirectoryAtTheDefaultCertificatePath()
    {
        var pod = Deployment().Spec.Template.Spec;
        var sidecar = Sidecar();
        var volume = Assert.Single(pod.Volumes, v => v.Secret is not null);
        var mount = Assert.Single(sidecar.VolumeMounts, m => m.Name == volume.Name);

        Assert.Equal(Path.GetDirectoryName(Tls.CertificatePath), mount.MountPath);
        Assert.Equal(Path.GetDirectoryName(Tls.KeyPath), mount.MountPath);
        Assert.True(mount.ReadOnlyProperty);
        Assert.Null(mount.SubPath);
        Assert.Null(mount.SubPathExpr);
        Assert.Equal(volume.Secret.SecretName, Certificate().Spec.SecretName);
    }

    [Fact]
    public void NoContainer_UsesSubPathMounts()
    {
        foreach (var container in AllContainers())
        {
            Assert.All(container.VolumeMounts ?? [], m => Assert.True(m.SubPath is null && m.SubPathExpr is null, $"{container.Name} mounts {m.Name} with subPath, which never receives updates"));
        }
    }

    [Fact]
    public void ConfigMap_IsMountedAsADirectoryAndNamedByTheConfigFileVariable()
    {
        var pod = Deployment().Spec.Template.Spec;
        var sidecar = Sidecar();
        var configPath = Assert.Single(sidecar.Env, e => e.Name == ConfigFileExtensions.ConfigFileVariable).Value;
        var mount = Assert.Single(sidecar.VolumeMounts, m => configPath.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        var volume = Assert.Single(pod.Volumes, v => v.Name == mount.Name);
        var configMap = Assert.Single(Load("k8s/configmap.yaml").OfType<V1ConfigMap>());

        Assert.Null(mount.SubPath);
        Assert.True(mount.ReadOnlyProperty);
        Assert.Equal(configMap.Metadata.Name, volume.ConfigMap.Name);
        Assert.True(configMap.Data.ContainsKey(Path.GetFileName(configPath)), $"the ConfigMap has no {Path.GetFileName(configPath)}");
        using var json = System.Text.Json.JsonDocument.Parse(configMap.Data[Path.GetFileName(configPath)]);
        Assert.True(json.RootElement.TryGetProperty("Sidecar", out _));
    }

    [Fact]
    public void Probes_UseTheAdminPortAndTheApplicationsHealthPaths()
    {
        var sidecar = Sidecar();
        var live = new LivenessEndpoint().Path;
        var ready = ((ReadinessEndpoint)RuntimeHelpers.GetUninitializedObject(typeof(ReadinessEndpoint))).Path;

        Assert.Equal(live, sidecar.LivenessProbe.HttpGet.Path);
        Assert.Equal(ready, sidecar.ReadinessProbe.HttpGet.Path);
        Assert.Equal(live, sidecar.StartupProbe.HttpGet.Path);
        foreach (var probe in new[] { sidecar.LivenessProbe, sidecar.ReadinessProbe, sidecar.StartupProbe })
        {
            Assert.Equal(Hosting.AdminPort, Resolve(sidecar, probe.HttpGet.Port));
        }
    }

    [Fact]
    public void EveryContainer_IsNonRootReadOnlyWithoutCapabilitiesAndHasResources()
    {
        var pod = Deployment().Spec.Template.Spec;
        foreach (var container in AllContainers())
        {
            var security = container.SecurityContext;
            Assert.True(security?.RunAsNonRoot ?? pod.SecurityContext?.RunAsNonRoot, $"{container.Name}: runAsNonRoot");
            Assert.True(security?.ReadOnlyRootFilesystem, $"{container.Name}: readOnlyRootFilesystem");
            Assert.False(security?.AllowPrivilegeEscalation ?? true, $"{container.Name}: allowPrivilegeEscalation");
            Assert.Equal(["ALL"], security?.Capabilities?.Drop);
            Assert.Equal("RuntimeDefault", security?.SeccompProfile?.Type ?? pod.SecurityContext?.SeccompProfile?.Type);
            foreach (var resource in new[] { "cpu", "memory" })
            {
                Assert.True(container.Resources?.Requests?.ContainsKey(resource), $"{container.Name}: requests.{resource}");
                Assert.True(container.Resources?.Limits?.ContainsKey(resource), $"{container.Name}: limits.{resource}");
            }
        }
    }

    [Fact]
    public void Sidecar_WritesOnlyToATmpEmptyDir()
    {
        var pod = Deployment().Spec.Template.Spec;
        var tmp = Assert.Single(Sidecar().VolumeMounts, m => m.MountPath == "/tmp");

        Assert.NotNull(Assert.Single(pod.Volumes, v => v.Name == tmp.Name).EmptyDir);
        Assert.All(Sidecar().VolumeMounts.Where(m => m.MountPath != "/tmp"), m => Assert.True(m.ReadOnlyProperty, $"{m.Name} is writable"));
    }

    [Fact]
    public void TerminationGrace_CoversShutdownDelayAndDrainTimeout()
    {
        var sidecar = Sidecar();
        var delay = Setting(sidecar, "Sidecar__Hosting__ShutdownDelay") ?? Hosting.ShutdownDelay;
        var drain = Setting(sidecar, "Sidecar__Hosting__DrainTimeout") ?? Hosting.DrainTimeout;
        var preStop = TimeSpan.FromSeconds(Deployment().Spec.Template.Spec.Containers.Sum(c => c.Lifecycle?.PreStop?.Sleep?.Seconds ?? 0));

        Assert.True(
            TimeSpan.FromSeconds(Deployment().Spec.Template.Spec.TerminationGracePeriodSeconds ?? 30) >= preStop + delay + drain,
            $"terminationGracePeriodSeconds must cover the app's preStop ({preStop}) + ShutdownDelay ({delay}) + DrainTimeout ({drain})");
    }

    [Fact]
    public void Service_ExposesOnlyHttps443ToTheSidecarsHttpsPort()
    {
        var service = Assert.Single(Load("k8s/service.yaml").OfType<V1Service>());
        var port = Assert.Single(service.Spec.Ports);

        Assert.Equal(443, port.Port);
        Assert.Equal(Hosting.HttpsPort, Resolve(Sidecar(), port.TargetPort));
        Assert.Equal(Deployment().Spec.Selector.MatchLabels, service.Spec.Selector);
    }

    [Fact]
    public void Kustomizations_ListEveryManifestAndTheOlderClusterOverlayExists()
    {
        var root = Assert.Single(Load("k8s/kustomization.yaml").OfType<Kustomization>());
        var manifests = Directory.EnumerateFiles(RepositoryRoot.Combine("k8s"), "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml");
        Assert.Equal(manifests.Order(StringComparer.Ordinal), root.Resources!.Order(StringComparer.Ordinal));

        var redis = Assert.Single(Load("k8s/redis/kustomization.yaml").OfType<Kustomization>());
        Assert.Contains("redis.yaml", redis.Resources!);
        Assert.Contains(Load("k8s/redis/redis.yaml"), o => o is V1Deployment);
        Assert.Contains(Load("k8s/redis/redis.yaml"), o => o is V1Service);

        var older = Assert.Single(Load("k8s/overlays/before-1.29/kustomization.yaml").OfType<Kustomization>());
        Assert.Contains(older.Patches!, p => p.Patch!.Contains("/spec/template/spec/containers", StringComparison.Ordinal));
    }

    private static List<object> Load(string relativePath) =>
        KubernetesYaml.LoadAllFromString(File.ReadAllText(RepositoryRoot.Combine(relativePath)), ExtraKinds, strict: true);

    private static V1Deployment Deployment() => Assert.Single(Load("k8s/deployment.yaml").OfType<V1Deployment>());

    private static CertManagerCertificate Certificate() => Assert.Single(Load("k8s/certificate.yaml").OfType<CertManagerCertificate>());

    private static V1Container Sidecar() => Assert.Single(Deployment().Spec.Template.Spec.InitContainers, c => c.Name == "proxysidecar");

    private static IEnumerable<V1Container> AllContainers()
    {
        var pod = Deployment().Spec.Template.Spec;
        return (pod.InitContainers ?? []).Concat(pod.Containers);
    }

    private static int ContainerPort(V1Container container, string name) => Assert.Single(container.Ports, p => p.Name == name).ContainerPort;

    private static int Resolve(V1Container container, IntOrString port) =>
        int.TryParse(port.Value, out var number) ? number : ContainerPort(container, port.Value);

    private static TimeSpan? Setting(V1Container container, string name) =>
        container.Env?.FirstOrDefault(e => e.Name == name)?.Value is { } value ? TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture) : null;
}
