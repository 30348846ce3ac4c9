using k8s;
using k8s.Models;
using ProxySidecar.IntegrationTests.Infrastructure;

namespace ProxySidecar.IntegrationTests.Repository;

/// <summary>
/// The component added to a Deployment it has never seen: a user's own kustomization (written to a temp directory)
/// with two Deployments, one labelled for the sidecar, plus every optional component, rendered by kubectl.
/// </summary>
public sealed class SidecarComponentTests : IDisposable
{
    private const string UserDeployments = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: shop
          labels:
            proxysidecar/inject: "true"
        spec:
          selector:
            matchLabels:
              app: shop
          template:
            metadata:
              labels:
                app: shop
            spec:
              securityContext:
                fsGroup: 2000
              initContainers:
                - name: migrate
                  image: registry.example.com/shop-migrate:3
              containers:
                - name: shop
                  image: registry.example.com/shop:3
                  volumeMounts:
                    - name: tls
                      mountPath: /app/tls
                    - name: config
                      mountPath: /app/config
              volumes:
                - name: tls
                  secret:
                    secretName: shop-upstream-tls
                - name: config
                  configMap:
                    name: shop-config
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: worker
        spec:
          selector:
            matchLabels:
              app: worker
          template:
            metadata:
              labels:
                app: worker
            spec:
              containers:
                - name: worker
                  image: registry.example.com/worker:3
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: shop
          labels:
            proxysidecar/inject: "true"
        spec:
          selector:
            app: shop
          ports:
            - name: http
              port: 80
              targetPort: 3000
        """;

    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [KubectlFact]
    public void Component_AddsTheSidecarToTheLabelledDeploymentOnly_KeepingItsOwnContainersAndVolumes()
    {
        var rendered = Render(["proxysidecar"]);
        var shop = Assert.Single(rendered.Deployments, d => d.Metadata.Name == "shop").Spec.Template;
        var worker = Assert.Single(rendered.Deployments, d => d.Metadata.Name == "worker").Spec.Template;

        Assert.Null(Manifest.Sidecar(worker.Spec));
        Assert.Null(worker.Spec.Volumes);
        var sidecar = Manifest.Sidecar(shop.Spec);
        Assert.NotNull(sidecar);
        Assert.Contains(sidecar, shop.Spec.InitContainers);
        Assert.Equal("Always", sidecar.RestartPolicy);
        Assert.Contains(shop.Spec.InitContainers, c => c.Name == "migrate" && c.Image == "registry.example.com/shop-migrate:3");
        Assert.Equal("shop-upstream-tls", Assert.Single(shop.Spec.Volumes, v => v.Name == "tls").Secret.SecretName);
        Assert.Equal("shop-config", Assert.Single(shop.Spec.Volumes, v => v.Name == "config").ConfigMap.Name);
        Assert.All(sidecar.VolumeMounts, m => Assert.StartsWith("proxysidecar-", m.Name, StringComparison.Ordinal));
        Assert.Equal(5, shop.Spec.Volumes.Count);
        Assert.Equal(2000, shop.Spec.SecurityContext.FsGroup);
        Assert.Equal("true", shop.Metadata.Labels["proxysidecar/sidecar"]);
        Assert.Equal("shop", shop.Metadata.Labels["app"]);
        Assert.NotNull(rendered.ConfigMap("proxysidecar-config"));
        Assert.Contains(Assert.Single(rendered.OfKind<V1Service>()).Spec.Ports, p => p.Port == 443 && p.TargetPort.Value == "https");
    }

    [KubectlFact]
    public void OptionalComponents_ChangeOnlyTheLabelledDeploymentsSidecar()
    {
        var rendered = Render(["proxysidecar", "certificate", "redis", "purge", "prometheus", "network-policy", "pod-disruption-budget"]);
        var shop = Assert.Single(rendered.Deployments, d => d.Metadata.Name == "shop");
        var sidecar = Manifest.Sidecar(shop.Spec.Template.Spec)!;

        Assert.Equal("Redis", Manifest.Env(sidecar, "Sidecar__Cache__Store"));
        Assert.NotNull(Manifest.Env(sidecar, "Sidecar__Admin__PurgeTokenFile"));
        Assert.Null(Manifest.Sidecar(Assert.Single(rendered.Deployments, d => d.Metadata.Name == "worker").Spec.Template.Spec));
        Assert.Null(Manifest.Sidecar(Assert.Single(rendered.Deployments, d => d.Metadata.Name == RedisManifest.DeploymentName).Spec.Template.Spec));
        Assert.Single(rendered.OfKind<CertManagerCertificate>());
        Assert.Single(rendered.OfKind<PodMonitor>());
        Assert.Single(rendered.OfKind<PrometheusRule>());
        Assert.Single(rendered.OfKind<V1PodDisruptionBudget>());
        Assert.Equal(2, rendered.OfKind<V1NetworkPolicy>().Count());
    }

    [KubectlFact]
    public void OlderClusterComponent_ListedLast_MovesTheSidecarWithWhatTheOthersAdded()
    {
        var rendered = Render(["proxysidecar", "redis", "purge", "before-1.29"]);
        var shop = Assert.Single(rendered.Deployments, d => d.Metadata.Name == "shop").Spec.Template.Spec;

        // The proxysidecar component put the sidecar before the user's own init container, which stays where it was.
        Assert.Equal(["migrate"], shop.InitContainers.Select(c => c.Name));
        var sidecar = Assert.Single(shop.Containers, c => c.Name == Manifest.SidecarName);
        Assert.Null(sidecar.RestartPolicy);
        Assert.Equal("Redis", Manifest.Env(sidecar, "Sidecar__Cache__Store"));
        Assert.NotNull(Manifest.Env(sidecar, "Sidecar__Admin__PurgeTokenFile"));
        Assert.Equal("00:00:05", Manifest.Env(sidecar, "Sidecar__Hosting__ShutdownDelay"));
    }

    private Rendered Render(string[] components)
    {
        File.WriteAllText(_directory.Combine("app.yaml"), UserDeployments);
        var componentLines = string.Join("\n", components.Select(c => "  - " + Path.GetRelativePath(_directory.Path, RepositoryRoot.Combine("k8s", "components", c))));
        File.WriteAllText(_directory.Combine("kustomization.yaml"), $"""
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - app.yaml
            components:
            {componentLines}
            """);
        return Kustomize.Render(_directory.Path);
    }
}
