using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using ProxySidecar.Admin;
using ProxySidecar.Configuration;
using ProxySidecar.Hosting;
using ProxySidecar.Tls;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>A fact that needs kubectl: skipped with a reason where it is missing, except under CI=true, where it runs and fails.</summary>
public sealed class KubectlFactAttribute : FactAttribute
{
    public KubectlFactAttribute()
    {
        if (Kustomize.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>A theory that needs kubectl (see <see cref="KubectlFactAttribute"/>).</summary>
public sealed class KubectlTheoryAttribute : TheoryAttribute
{
    public KubectlTheoryAttribute()
    {
        if (Kustomize.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>
/// Every kustomization in the repository renders with the real <c>kubectl kustomize</c>, every rendered object parses
/// strictly as its Kubernetes API model, and what renders agrees with the application's defaults and with the rules
/// for running the sidecar safely. Each kustomization is rendered once per run.
/// </summary>
public sealed partial class ManifestTests
{
    private static readonly HostingOptions Hosting = new();
    private static readonly TlsOptions Tls = new();

    public static TheoryData<string> Kustomizations() => Kustomize.RenderableData();

    [Fact]
    public void Repository_HasTheKustomizationsTheDocumentationNames()
    {
        Assert.Superset(
            new HashSet<string>(["k8s/base", "k8s/redis", "k8s/overlays/before-1.29", "k8s/overlays/production"], StringComparer.Ordinal),
            Kustomize.Renderable.ToHashSet(StringComparer.Ordinal));
        Assert.Contains(Kustomize.Files, f => f.Directory == "k8s/components/proxysidecar" && f.Kind == "Component");
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void Kustomization_RendersWithKubectl(string directory)
    {
        Assert.NotEmpty(Kustomize.Render(directory).Objects);
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void EveryRenderedObject_IsAKnownKindWithAUniqueName(string directory)
    {
        var objects = Kustomize.Render(directory).Objects;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var o in objects)
        {
            var kubernetesObject = Assert.IsAssignableFrom<IKubernetesObject<V1ObjectMeta>>(o);
            Assert.False(string.IsNullOrEmpty(kubernetesObject.Metadata?.Name), $"{directory}: a {kubernetesObject.Kind} without a name");
            Assert.True(keys.Add($"{kubernetesObject.ApiVersion}/{kubernetesObject.Kind}/{kubernetesObject.Metadata.Name}"), $"{directory}: {kubernetesObject.Kind} {kubernetesObject.Metadata.Name} twice");
        }
    }

    [Fact]
    public void StrictParsing_UnknownField_IsRejected()
    {
        const string yaml = "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  portz: []\n";

        var error = Assert.ThrowsAny<YamlDotNet.Core.YamlException>(() => KubernetesYaml.LoadAllFromString(yaml, Kustomize.ExtraKinds, strict: true));
        Assert.Contains("portz", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StrictParsing_UnknownFieldInACustomResource_IsRejected()
    {
        const string yaml = "apiVersion: monitoring.coreos.com/v1\nkind: PodMonitor\nmetadata:\n  name: x\nspec:\n  podMetricsEndpoints:\n    - port: admin\n      pathh: /metrics\n";

        var error = Assert.ThrowsAny<YamlDotNet.Core.YamlException>(() => KubernetesYaml.LoadAllFromString(yaml, Kustomize.ExtraKinds, strict: true));
        Assert.Contains("pathh", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EveryComponent_IsRenderedByAtLeastOneKustomization()
    {
        var byDirectory = Kustomize.Files.ToDictionary(f => f.Directory, StringComparer.Ordinal);
        var reached = new HashSet<string>(StringComparer.Ordinal);
        foreach (var root in Kustomize.Renderable)
        {
            Visit(root);
        }

        foreach (var component in Kustomize.Files.Where(f => f.Kind == "Component"))
        {
            Assert.True(reached.Contains(component.Directory), $"the component {component.Directory} is used by no kustomization, so no test renders it");
        }

        void Visit(string directory)
        {
            if (!reached.Add(directory) || !byDirectory.TryGetValue(directory, out var file))
            {
                return;
            }

            foreach (var next in file.Resources.Concat(file.Components))
            {
                Visit(next);
            }
        }
    }

    /// <summary>A kustomization inside another one's folder is how overlays end in "cycle detected": keep them side by side.</summary>
    [Fact]
    public void NoKustomization_LivesInsideAnother()
    {
        foreach (var outer in Kustomize.Files)
        {
            Assert.DoesNotContain(Kustomize.Files, inner => inner.Directory.StartsWith(outer.Directory + "/", StringComparison.Ordinal));
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void Sidecar_IsANativeSidecarInitContainer_ExceptForOlderClusters(string directory)
    {
        foreach (var (deployment, sidecar) in Kustomize.Render(directory).WithSidecar)
        {
            var pod = deployment.Spec.Template.Spec;
            if (ForOlderClusters(directory))
            {
                Assert.Contains(sidecar, pod.Containers);
                Assert.Null(sidecar.RestartPolicy);
                Assert.True(Setting(sidecar, "Sidecar__Hosting__ShutdownDelay") > TimeSpan.Zero, "both containers get SIGTERM at once: the sidecar needs a ShutdownDelay");
            }
            else
            {
                Assert.Contains(sidecar, pod.InitContainers ?? []);
                Assert.Equal("Always", sidecar.RestartPolicy);
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void Sidecar_HasTheApplicationsPortsAndTheShippedImage(string directory)
    {
        var rendered = Kustomize.Render(directory);
        Assert.NotEmpty(rendered.WithSidecar);
        foreach (var (_, sidecar) in rendered.WithSidecar)
        {
            Assert.Equal(Hosting.HttpsPort, Manifest.ContainerPort(sidecar, "https"));
            Assert.Equal(Hosting.AdminPort, Manifest.ContainerPort(sidecar, "admin"));
            Assert.Equal(2, sidecar.Ports.Count);
            Assert.Equal($"proxysidecar:{ProjectVersion.Value}", sidecar.Image);
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void NoContainer_UsesSubPathMounts(string directory)
    {
        foreach (var deployment in Kustomize.Render(directory).Deployments)
        {
            foreach (var container in Manifest.AllContainers(deployment.Spec.Template.Spec))
            {
                Assert.All(container.VolumeMounts ?? [], m => Assert.True(
                    m.SubPath is null && m.SubPathExpr is null,
                    $"{directory}: {container.Name} mounts {m.Name} with subPath, which never receives updates of a Secret or ConfigMap"));
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void Probes_UseTheAdminPortAndTheApplicationsHealthPaths(string directory)
    {
        var live = new LivenessEndpoint().Path;
        var ready = ((ReadinessEndpoint)RuntimeHelpers.GetUninitializedObject(typeof(ReadinessEndpoint))).Path;
        foreach (var (_, sidecar) in Kustomize.Render(directory).WithSidecar)
        {
            Assert.Equal(live, sidecar.LivenessProbe.HttpGet.Path);
            Assert.Equal(ready, sidecar.ReadinessProbe.HttpGet.Path);
            Assert.Equal(live, sidecar.StartupProbe.HttpGet.Path);
            foreach (var probe in new[] { sidecar.LivenessProbe, sidecar.ReadinessProbe, sidecar.StartupProbe })
            {
                Assert.Equal(Hosting.AdminPort, Manifest.Resolve(sidecar, probe.HttpGet.Port));
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void EveryContainer_IsNonRootReadOnlyWithoutCapabilitiesAndHasResources(string directory)
    {
        foreach (var deployment in Kustomize.Render(directory).Deployments)
        {
            var pod = deployment.Spec.Template.Spec;
            foreach (var container in Manifest.AllContainers(pod))
            {
                var name = $"{directory}: {deployment.Metadata.Name}/{container.Name}";
                var security = container.SecurityContext;
                Assert.True(security?.RunAsNonRoot ?? pod.SecurityContext?.RunAsNonRoot, $"{name}: runAsNonRoot");
                Assert.NotEqual(0, security?.RunAsUser ?? pod.SecurityContext?.RunAsUser);
                Assert.True(security?.ReadOnlyRootFilesystem, $"{name}: readOnlyRootFilesystem");
                Assert.False(security?.AllowPrivilegeEscalation ?? true, $"{name}: allowPrivilegeEscalation");
                Assert.False(security?.Privileged ?? false, $"{name}: privileged");
                Assert.Equal(["ALL"], security?.Capabilities?.Drop);
                Assert.Null(security?.Capabilities?.Add);
                Assert.Equal("RuntimeDefault", security?.SeccompProfile?.Type ?? pod.SecurityContext?.SeccompProfile?.Type);
                Assert.False(string.IsNullOrEmpty(container.Image), $"{name}: no image");
                foreach (var resource in new[] { "cpu", "memory" })
                {
                    Assert.True(container.Resources?.Requests?.ContainsKey(resource), $"{name}: requests.{resource}");
                    Assert.True(container.Resources?.Limits?.ContainsKey(resource), $"{name}: limits.{resource}");
                }
            }

            Assert.False(pod.AutomountServiceAccountToken ?? true, $"{directory}: {deployment.Metadata.Name} mounts a service account token it does not use");
            Assert.NotEqual(true, pod.HostNetwork);
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void TlsSecret_IsMountedReadOnlyAsADirectoryAtTheDefaultCertificatePath_OnlyIntoTheSidecar(string directory)
    {
        var rendered = Kustomize.Render(directory);
        foreach (var (deployment, sidecar) in rendered.WithSidecar)
        {
            var pod = deployment.Spec.Template.Spec;
            var mount = Assert.Single(sidecar.VolumeMounts, m => m.MountPath == Path.GetDirectoryName(Tls.CertificatePath));
            var volume = Assert.Single(pod.Volumes, v => v.Name == mount.Name);

            Assert.NotNull(volume.Secret);
            Assert.Equal(Path.GetDirectoryName(Tls.KeyPath), mount.MountPath);
            Assert.True(mount.ReadOnlyProperty);
            Assert.Null(mount.SubPath);
            Assert.Null(volume.Secret.Items);
            Assert.DoesNotContain(Manifest.AllContainers(pod).Where(c => c != sidecar), c => (c.VolumeMounts ?? []).Any(m => m.Name == volume.Name));
            var certificate = rendered.OfKind<CertManagerCertificate>().SingleOrDefault();
            if (certificate is not null)
            {
                Assert.Equal(volume.Secret.SecretName, certificate.Spec.SecretName);
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void ConfigMap_IsMountedAsADirectoryAndNamedByTheConfigFileVariable(string directory)
    {
        var rendered = Kustomize.Render(directory);
        foreach (var (deployment, sidecar) in rendered.WithSidecar)
        {
            var configPath = Manifest.Env(sidecar, ConfigFileExtensions.ConfigFileVariable);
            Assert.NotNull(configPath);
            var mount = Assert.Single(sidecar.VolumeMounts, m => configPath.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
            var volume = Assert.Single(deployment.Spec.Template.Spec.Volumes, v => v.Name == mount.Name);
            var configMap = rendered.ConfigMap(volume.ConfigMap.Name);

            Assert.NotNull(configMap);
            Assert.Null(mount.SubPath);
            Assert.True(mount.ReadOnlyProperty);
            Assert.True(configMap.Data.ContainsKey(Path.GetFileName(configPath)), $"the ConfigMap has no {Path.GetFileName(configPath)}");
            using var json = System.Text.Json.JsonDocument.Parse(configMap.Data[Path.GetFileName(configPath)]);
            Assert.Equal(System.Text.Json.JsonValueKind.Object, json.RootElement.GetProperty("Sidecar").ValueKind);
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void Sidecar_WritesOnlyToATmpEmptyDir(string directory)
    {
        foreach (var (deployment, sidecar) in Kustomize.Render(directory).WithSidecar)
        {
            var tmp = Assert.Single(sidecar.VolumeMounts, m => m.MountPath == "/tmp");

            Assert.NotNull(Assert.Single(deployment.Spec.Template.Spec.Volumes, v => v.Name == tmp.Name).EmptyDir);
            Assert.All(sidecar.VolumeMounts.Where(m => m.MountPath != "/tmp"), m => Assert.True(m.ReadOnlyProperty, $"{m.Name} is writable"));
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void TerminationGrace_CoversPreStopShutdownDelayAndDrainTimeout(string directory)
    {
        foreach (var (deployment, sidecar) in Kustomize.Render(directory).WithSidecar)
        {
            var pod = deployment.Spec.Template.Spec;
            var delay = Setting(sidecar, "Sidecar__Hosting__ShutdownDelay") ?? Hosting.ShutdownDelay;
            var drain = Setting(sidecar, "Sidecar__Hosting__DrainTimeout") ?? Hosting.DrainTimeout;
            var preStop = TimeSpan.FromSeconds(pod.Containers.Sum(c => PreStopSeconds(c.Lifecycle?.PreStop)));

            Assert.True(
                TimeSpan.FromSeconds(pod.TerminationGracePeriodSeconds ?? 30) >= preStop + delay + drain,
                $"{directory}: terminationGracePeriodSeconds must cover the app's preStop ({preStop}) + ShutdownDelay ({delay}) + DrainTimeout ({drain})");
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void Services_SelectPodsAndExposeOnlyTheSidecarsHttpsPort(string directory)
    {
        var rendered = Kustomize.Render(directory);
        foreach (var service in rendered.OfKind<V1Service>())
        {
            var pods = rendered.Deployments.Where(d => Manifest.Matches(service.Spec.Selector, d.Spec.Template.Metadata.Labels)).ToList();
            Assert.True(pods.Count > 0, $"{directory}: Service {service.Metadata.Name} selects no pod");
            foreach (var port in service.Spec.Ports)
            {
                Assert.All(pods, d => Assert.Contains(Manifest.AllContainers(d.Spec.Template.Spec), c => c.Ports?.Any(p => p.Name == port.TargetPort.Value || p.ContainerPort.ToString(CultureInfo.InvariantCulture) == port.TargetPort.Value) == true));
            }

            if (pods.Any(d => Manifest.Sidecar(d.Spec.Template.Spec) is not null))
            {
                var port = Assert.Single(service.Spec.Ports);
                Assert.Equal(new HostingOptions().PublicHttpsPort, port.Port);
                Assert.Equal(Hosting.HttpsPort, Manifest.Resolve(Manifest.Sidecar(pods[0].Spec.Template.Spec)!, port.TargetPort));
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void SecretReferences_ResolveInTheRenderOrAreDocumentedAsUserProvided(string directory)
    {
        var rendered = Kustomize.Render(directory);
        var inRender = rendered.OfKind<V1Secret>().Select(s => s.Metadata.Name)
            .Concat(rendered.OfKind<CertManagerCertificate>().Select(c => c.Spec.SecretName))
            .ToHashSet(StringComparer.Ordinal);
        var documented = UserProvidedSecrets.Value;
        foreach (var deployment in rendered.Deployments)
        {
            foreach (var name in SecretReferences(deployment.Spec.Template.Spec))
            {
                Assert.True(
                    inRender.Contains(name) || documented.Contains(name),
                    $"{directory}: {deployment.Metadata.Name} uses the Secret {name}, which nothing in the render creates and docs/kubernetes.md does not list under \"Secrets you create\"");
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void ConfigMapReferences_ResolveInTheRender(string directory)
    {
        var rendered = Kustomize.Render(directory);
        foreach (var deployment in rendered.Deployments)
        {
            var pod = deployment.Spec.Template.Spec;
            var names = (pod.Volumes ?? []).Where(v => v.ConfigMap is not null).Select(v => v.ConfigMap.Name)
                .Concat(Manifest.AllContainers(pod).SelectMany(c => (c.Env ?? []).Select(e => e.ValueFrom?.ConfigMapKeyRef?.Name)))
                .Concat(Manifest.AllContainers(pod).SelectMany(c => (c.EnvFrom ?? []).Select(e => e.ConfigMapRef?.Name)))
                .OfType<string>();
            Assert.All(names, n => Assert.True(rendered.ConfigMap(n) is not null, $"{directory}: {deployment.Metadata.Name} uses the ConfigMap {n}, which the render does not hold"));
        }
    }

    /// <summary>Kubernetes substitutes $(NAME) in env values, command and args only with variables defined earlier in the same container.</summary>
    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void VariableReferences_NameVariablesDefinedEarlierInTheSameContainer(string directory)
    {
        foreach (var deployment in Kustomize.Render(directory).Deployments)
        {
            foreach (var container in Manifest.AllContainers(deployment.Spec.Template.Spec))
            {
                var defined = new HashSet<string>(StringComparer.Ordinal);
                foreach (var variable in container.Env ?? [])
                {
                    AssertDefined(variable.Value, defined, $"{container.Name} env {variable.Name}");
                    defined.Add(variable.Name);
                }

                foreach (var text in (container.Command ?? []).Concat(container.Args ?? []))
                {
                    AssertDefined(text, defined, $"{container.Name} command");
                }
            }
        }

        void AssertDefined(string? text, HashSet<string> defined, string where)
        {
            foreach (Match match in VariableReference().Matches(text ?? ""))
            {
                Assert.True(defined.Contains(match.Groups[1].Value), $"{directory}: {where} refers to $({match.Groups[1].Value}), which is not defined before it in the same container");
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void NoConfigMapOrPlainEnvironmentValue_HoldsAPasswordOrToken(string directory)
    {
        var rendered = Kustomize.Render(directory);
        foreach (var configMap in rendered.OfKind<V1ConfigMap>())
        {
            foreach (var (key, value) in configMap.Data ?? new Dictionary<string, string>())
            {
                Assert.False(SecretInText().IsMatch(value), $"{directory}: ConfigMap {configMap.Metadata.Name} key {key} holds a password or token; it belongs in a Secret");
            }
        }

        foreach (var deployment in rendered.Deployments)
        {
            foreach (var variable in Manifest.AllContainers(deployment.Spec.Template.Spec).SelectMany(c => c.Env ?? []))
            {
                Assert.False(SecretInText().IsMatch(variable.Value ?? ""), $"{directory}: env {variable.Name} holds a password or token in plain text");
                if (SecretName().IsMatch(variable.Name) && !variable.Name.EndsWith("File", StringComparison.Ordinal))
                {
                    Assert.NotNull(variable.ValueFrom?.SecretKeyRef);
                }
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void PoliciesBudgetsAndMonitors_SelectPodsWithTheNamedPorts(string directory)
    {
        var rendered = Kustomize.Render(directory);
        var pods = rendered.Deployments.Select(d => d.Spec.Template).ToList();

        foreach (var policy in rendered.OfKind<V1NetworkPolicy>())
        {
            var selected = Selected(policy.Spec.PodSelector, $"NetworkPolicy {policy.Metadata.Name}");
            foreach (var port in (policy.Spec.Ingress ?? []).SelectMany(r => r.Ports ?? []))
            {
                Assert.All(selected, p => HasPort(p, port.Port.Value));
            }
        }

        foreach (var budget in rendered.OfKind<V1PodDisruptionBudget>())
        {
            Selected(budget.Spec.Selector, $"PodDisruptionBudget {budget.Metadata.Name}");
        }

        foreach (var monitor in rendered.OfKind<PodMonitor>())
        {
            var selected = Selected(monitor.Spec.Selector, $"PodMonitor {monitor.Metadata.Name}");
            var endpoint = Assert.Single(monitor.Spec.PodMetricsEndpoints);
            Assert.All(selected, p => HasPort(p, endpoint.Port!));
            Assert.Equal("admin", endpoint.Port);
            Assert.Equal("/metrics", endpoint.Path);
        }

        List<V1PodTemplateSpec> Selected(V1LabelSelector selector, string what)
        {
            var selected = pods.Where(p => Manifest.Matches(selector, p.Metadata.Labels)).ToList();
            Assert.True(selected.Count > 0, $"{directory}: {what} selects no pod");
            return selected;
        }

        void HasPort(V1PodTemplateSpec pod, string port) =>
            Assert.Contains(Manifest.AllContainers(pod.Spec), c => c.Ports?.Any(p => p.Name == port || p.ContainerPort.ToString(CultureInfo.InvariantCulture) == port) == true);
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void NetworkPolicies_OpenHttpsAndAdminOnlyToSelectedNamespacesAndRedisOnlyToSidecars(string directory)
    {
        var rendered = Kustomize.Render(directory);
        foreach (var policy in rendered.OfKind<V1NetworkPolicy>())
        {
            Assert.Equal(["Ingress"], policy.Spec.PolicyTypes);
            var pods = rendered.Deployments.Where(d => Manifest.Matches(policy.Spec.PodSelector, d.Spec.Template.Metadata.Labels)).ToList();
            foreach (var rule in policy.Spec.Ingress)
            {
                Assert.True(rule.Ports is { Count: > 0 }, $"{policy.Metadata.Name}: a rule without ports opens every port");
            }

            if (pods.Any(d => Manifest.Sidecar(d.Spec.Template.Spec) is not null))
            {
                var sidecar = Manifest.Sidecar(pods[0].Spec.Template.Spec)!;
                var opened = policy.Spec.Ingress.SelectMany(r => r.Ports.Select(p => (Rule: r, Port: Manifest.Resolve(sidecar, p.Port)))).ToList();
                Assert.Equal(new[] { Hosting.HttpsPort, Hosting.AdminPort }.Order(), opened.Select(o => o.Port).Distinct().Order());
                foreach (var (rule, _) in opened.Where(o => o.Port == Hosting.AdminPort))
                {
                    var from = Assert.Single(rule.FromProperty);
                    Assert.True(from.NamespaceSelector?.MatchLabels is { Count: > 0 }, $"{policy.Metadata.Name}: the admin port must be open only to the namespaces a selector names");
                    Assert.Null(from.IpBlock);
                }
            }
            else
            {
                // Redis: its port only, and only from pods that carry the sidecar.
                var from = Assert.Single(Assert.Single(policy.Spec.Ingress).FromProperty);
                Assert.Null(from.NamespaceSelector);
                Assert.Equal("true", from.PodSelector.MatchLabels["proxysidecar/sidecar"]);
                Assert.All(rendered.Deployments.Where(d => Manifest.Matches(from.PodSelector, d.Spec.Template.Metadata.Labels)), d => Assert.NotNull(Manifest.Sidecar(d.Spec.Template.Spec)));
            }
        }

        // Every pod that the sidecar's NetworkPolicy selects is one with the sidecar label that the component sets.
        foreach (var (deployment, _) in rendered.WithSidecar)
        {
            Assert.Equal("true", deployment.Spec.Template.Metadata.Labels["proxysidecar/sidecar"]);
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void Redis_IsPasswordProtectedFromTheSameSecretAndNeverEvicts(string directory)
    {
        var rendered = Kustomize.Render(directory);
        var redis = rendered.Deployments.SingleOrDefault(d => d.Metadata.Name == "proxysidecar-redis");
        if (redis is null)
        {
            Assert.All(rendered.WithSidecar, p => Assert.Null(Manifest.Env(p.Sidecar, "Sidecar__Cache__Store")));
            return;
        }

        var manifest = RedisManifest.From(rendered);
        var service = Assert.Single(rendered.OfKind<V1Service>(), s => Manifest.Matches(s.Spec.Selector, redis.Spec.Template.Metadata.Labels));
        foreach (var (_, sidecar) in rendered.WithSidecar)
        {
            Assert.Equal("Redis", Manifest.Env(sidecar, "Sidecar__Cache__Store"));
            var configuration = Manifest.Env(sidecar, "Sidecar__Cache__Redis__Configuration");
            Assert.NotNull(configuration);
            var match = Regex.Match(configuration, @"^([^:,]+):(\d+),password=\$\(([A-Z_]+)\)$");
            Assert.True(match.Success, $"Sidecar__Cache__Redis__Configuration is \"{configuration}\"; expected host:port,password=$(VARIABLE)");
            Assert.Equal(service.Metadata.Name, match.Groups[1].Value);
            Assert.Equal(service.Spec.Ports.Single().Port.ToString(CultureInfo.InvariantCulture), match.Groups[2].Value);
            var password = Assert.Single(sidecar.Env, e => e.Name == match.Groups[3].Value).ValueFrom.SecretKeyRef;
            Assert.Equal(manifest.PasswordSecret.Name, password.Name);
            Assert.Equal(manifest.PasswordSecret.Key, password.Key);
        }

        Assert.Equal("noeviction", manifest.Directive("maxmemory-policy"));
        Assert.Equal("\"\"", manifest.Directive("save"));
        Assert.Equal("no", manifest.Directive("appendonly"));
        Assert.Null(manifest.Directive("requirepass"));
        var limit = new ResourceQuantity(manifest.Container.Resources.Limits["memory"].ToString()).ToInt64();
        var maxmemory = RedisManifest.Bytes(manifest.Directive("maxmemory")!);
        Assert.True(maxmemory > 0 && maxmemory < limit, $"maxmemory ({maxmemory}) must be set and below the container's memory limit ({limit})");
    }

    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void PrometheusRule_HoldsTheDocumentedAlertRules(string directory)
    {
        foreach (var rule in Kustomize.Render(directory).OfKind<PrometheusRule>())
        {
            var documented = DocumentedAlertRules.Value;
            var rendered = new YamlDotNet.Serialization.SerializerBuilder().Build().Serialize(new { groups = rule.Spec.Groups.Select(ToPlain) });

            Assert.Equal(Normalise(documented), Normalise(rendered));
        }

        static object ToPlain(PrometheusRule.RuleGroup group) => new Dictionary<string, object>
        {
            ["name"] = group.Name,
            ["rules"] = group.Rules.Select(r => new Dictionary<string, object?>
            {
                ["alert"] = r.Alert,
                ["expr"] = r.Expr,
                ["for"] = r.For,
                ["annotations"] = r.Annotations,
            }.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value)).ToList(),
        };
    }

    /// <summary>
    /// What the overlays for clusters before 1.29 render must not use: fields added after Kubernetes 1.25, which an
    /// older API server rejects (kubectl validates strictly) or drops.
    /// </summary>
    [KubectlTheory]
    [MemberData(nameof(Kustomizations))]
    public void OlderClusterOverlays_UseNoFieldNewerThan125(string directory)
    {
        if (!ForOlderClusters(directory))
        {
            return;
        }

        (Regex Path, string Since)[] newer =
        [
            (new Regex(@"ontainers\[\]\.restartPolicy$"), "1.28 (native sidecars)"),
            (new Regex(@"\.lifecycle\.(preStop|postStart)\.sleep$"), "1.29 (sleep action)"),
            (new Regex(@"\.resizePolicy$"), "1.27"),
            (new Regex(@"^spec\.template\.spec\.(schedulingGates|resourceClaims)$"), "1.26"),
            (new Regex(@"^spec\.unhealthyPodEvictionPolicy$"), "1.26"),
            (new Regex(@"^spec\.trafficDistribution$"), "1.30"),
        ];
        foreach (var o in Kustomize.Render(directory).Objects)
        {
            foreach (var path in Paths(JsonNode.Parse(KubernetesJson.Serialize(o))!, ""))
            {
                foreach (var (pattern, since) in newer)
                {
                    Assert.False(pattern.IsMatch(path), $"{directory}: {((IKubernetesObject)o).Kind} has {path}, which Kubernetes has only since {since}");
                }
            }
        }

        static IEnumerable<string> Paths(JsonNode node, string prefix) => node switch
        {
            JsonObject o => o.SelectMany(p => p.Value is null ? [] : new[] { Join(prefix, p.Key) }.Concat(Paths(p.Value, Join(prefix, p.Key)))),
            JsonArray a => a.OfType<JsonNode>().SelectMany(n => Paths(n, prefix + "[]")),
            _ => [],
        };

        static string Join(string prefix, string key) => prefix.Length == 0 ? key : prefix + "." + key;
    }

    /// <summary>The older-cluster overlay moves the very container the native render has, with all it carries.</summary>
    [KubectlFact]
    public void OlderClusterOverlay_KeepsEverythingOfTheNativeSidecar()
    {
        var native = Copy(Assert.Single(Kustomize.Render("k8s/base").WithSidecar).Sidecar);
        var (deployment, sidecar) = Assert.Single(Kustomize.Render("k8s/overlays/before-1.29").WithSidecar);
        var older = Copy(sidecar);

        Assert.DoesNotContain(deployment.Spec.Template.Spec.InitContainers ?? [], c => c.Name == Manifest.SidecarName);
        older.Env = older.Env.Where(e => e.Name != "Sidecar__Hosting__ShutdownDelay").ToList();
        native.RestartPolicy = null;
        Assert.Equal(KubernetesJson.Serialize(native), KubernetesJson.Serialize(older));

        // The renders are shared by every test of the run: change copies only.
        static V1Container Copy(V1Container container) => KubernetesJson.Deserialize<V1Container>(KubernetesJson.Serialize(container));
    }

    private static bool ForOlderClusters(string directory) => directory.Contains("before-1.29", StringComparison.Ordinal);

    private static IEnumerable<string> SecretReferences(V1PodSpec pod) =>
        (pod.Volumes ?? []).Select(v => v.Secret?.SecretName)
            .Concat((pod.Volumes ?? []).SelectMany(v => v.Projected?.Sources ?? []).Select(s => s.Secret?.Name))
            .Concat(Manifest.AllContainers(pod).SelectMany(c => (c.Env ?? []).Select(e => e.ValueFrom?.SecretKeyRef?.Name)))
            .Concat(Manifest.AllContainers(pod).SelectMany(c => (c.EnvFrom ?? []).Select(e => e.SecretRef?.Name)))
            .Concat((pod.ImagePullSecrets ?? []).Select(s => s.Name))
            .OfType<string>()
            .Distinct(StringComparer.Ordinal);

    private static double PreStopSeconds(V1LifecycleHandler? handler) =>
        handler?.Sleep?.Seconds
        ?? (handler?.Exec?.Command is ["sleep", var seconds] ? double.Parse(seconds, CultureInfo.InvariantCulture) : 0);

    private static TimeSpan? Setting(V1Container container, string name) =>
        Manifest.Env(container, name) is { } value ? TimeSpan.Parse(value, CultureInfo.InvariantCulture) : null;

    private static string Normalise(string yaml)
    {
        var value = new YamlDotNet.Serialization.DeserializerBuilder().Build().Deserialize<object>(yaml);
        return System.Text.Json.JsonSerializer.Serialize(Plain(value));

        static object? Plain(object? node) => node switch
        {
            IDictionary<object, object> map => map.OrderBy(p => (string)p.Key, StringComparer.Ordinal).ToDictionary(p => (string)p.Key, p => Plain(p.Value)),
            IList<object> list => list.Select(Plain).ToList(),
            string text => text.TrimEnd('\n'),
            _ => node,
        };
    }

    /// <summary>The csproj's Version: the image tag the kustomizations deploy.</summary>
    internal static readonly Lazy<string> ProjectVersion = new(() =>
        Regex.Match(File.ReadAllText(RepositoryRoot.Combine("src/ProxySidecar/ProxySidecar.csproj")), "<Version>([^<]+)</Version>").Groups[1].Value);

    /// <summary>The names in the table under the heading "Secrets you create" of docs/kubernetes.md.</summary>
    private static readonly Lazy<HashSet<string>> UserProvidedSecrets = new(() =>
    {
        var lines = File.ReadAllLines(RepositoryRoot.Combine("docs/kubernetes.md"));
        var start = Array.FindIndex(lines, l => l.StartsWith('#') && l.Contains("Secrets you create", StringComparison.Ordinal));
        Assert.True(start >= 0, "docs/kubernetes.md has no heading \"Secrets you create\"");
        return lines.Skip(start + 1).TakeWhile(l => !l.StartsWith('#'))
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal))
            .Select(l => l.Split('`')[1])
            .ToHashSet(StringComparer.Ordinal);
    });

    /// <summary>The "groups:" YAML block of the documented alert rules (README.md or a page in docs/).</summary>
    private static readonly Lazy<string> DocumentedAlertRules = new(() =>
    {
        var pages = new[] { RepositoryRoot.Combine("README.md") }.Concat(Directory.Exists(RepositoryRoot.Combine("docs")) ? Directory.EnumerateFiles(RepositoryRoot.Combine("docs"), "*.md") : []);
        var blocks = pages.SelectMany(p => Regex.Matches(File.ReadAllText(p), "```yaml\n(groups:\n.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value))
            .Where(b => b.Contains("- name: proxysidecar", StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        return Assert.Single(blocks);
    });

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    /// <summary>A password or token written out: redis.conf's requirepass, a configuration string's password=, a JSON PurgeToken.</summary>
    [GeneratedRegex(@"(?im)(^\s*(requirepass|masterauth)\s+\S)|(password=(?!\$\())|(""PurgeToken""\s*:)")]
    private static partial Regex SecretInText();

    [GeneratedRegex("(?i)(password|token|secret)")]
    private static partial Regex SecretName();
}
