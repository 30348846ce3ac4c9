using k8s;
using k8s.Models;

namespace ProxySidecar.IntegrationTests.Deployment;

// Kinds outside the Kubernetes API that k8s/ uses, modelled with only the fields the manifests may
// use, so strict parsing rejects anything misspelt or unknown there too.

/// <summary>cert-manager.io/v1 Certificate.</summary>
public sealed class CertManagerCertificate : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = "";

    public string Kind { get; set; } = "";

    public V1ObjectMeta Metadata { get; set; } = new();

    public CertificateSpec Spec { get; set; } = new();

    public sealed class CertificateSpec
    {
        public string SecretName { get; set; } = "";

        public string? CommonName { get; set; }

        public string? Duration { get; set; }

        public string? RenewBefore { get; set; }

        public List<string> DnsNames { get; set; } = [];

        public List<string>? IpAddresses { get; set; }

        public List<string>? Usages { get; set; }

        public PrivateKeySpec? PrivateKey { get; set; }

        public IssuerReference IssuerRef { get; set; } = new();
    }

    public sealed class PrivateKeySpec
    {
        public string? Algorithm { get; set; }

        public int? Size { get; set; }

        public string? Encoding { get; set; }

        public string? RotationPolicy { get; set; }
    }

    public sealed class IssuerReference
    {
        public string Name { get; set; } = "";

        public string? Kind { get; set; }

        public string? Group { get; set; }
    }
}

/// <summary>kustomize.config.k8s.io/v1beta1 Kustomization (the fields k8s/ uses).</summary>
public sealed class Kustomization : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = "";

    public string Kind { get; set; } = "";

    public V1ObjectMeta Metadata { get; set; } = null!;

    public string? Namespace { get; set; }

    public List<string>? Resources { get; set; }

    public List<string>? Components { get; set; }

    public List<LabelSet>? Labels { get; set; }

    public List<Image>? Images { get; set; }

    public List<PatchEntry>? Patches { get; set; }

    public sealed class LabelSet
    {
        public Dictionary<string, string> Pairs { get; set; } = [];

        public bool? IncludeSelectors { get; set; }

        public bool? IncludeTemplates { get; set; }
    }

    public sealed class Image
    {
        public string Name { get; set; } = "";

        public string? NewName { get; set; }

        public string? NewTag { get; set; }

        public string? Digest { get; set; }
    }

    public sealed class PatchEntry
    {
        public string? Path { get; set; }

        public string? Patch { get; set; }

        public PatchTarget? Target { get; set; }
    }

    public sealed class PatchTarget
    {
        public string? Kind { get; set; }

        public string? Name { get; set; }
    }
}
