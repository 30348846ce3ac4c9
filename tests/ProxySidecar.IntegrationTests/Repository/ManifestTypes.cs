using k8s;
using k8s.Models;

namespace ProxySidecar.IntegrationTests.Repository;

// Kinds outside the Kubernetes API that the rendered manifests use, modelled with only the fields the manifests may
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

/// <summary>monitoring.coreos.com/v1 PodMonitor (Prometheus Operator).</summary>
public sealed class PodMonitor : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = "";

    public string Kind { get; set; } = "";

    public V1ObjectMeta Metadata { get; set; } = new();

    public PodMonitorSpec Spec { get; set; } = new();

    public sealed class PodMonitorSpec
    {
        public V1LabelSelector Selector { get; set; } = new();

        public NamespaceSelector? NamespaceSelector { get; set; }

        public List<PodMetricsEndpoint> PodMetricsEndpoints { get; set; } = [];
    }

    public sealed class NamespaceSelector
    {
        public bool? Any { get; set; }

        public List<string>? MatchNames { get; set; }
    }

    public sealed class PodMetricsEndpoint
    {
        public string? Port { get; set; }

        public string? Path { get; set; }

        public string? Scheme { get; set; }

        public string? Interval { get; set; }

        public string? ScrapeTimeout { get; set; }
    }
}

/// <summary>monitoring.coreos.com/v1 PrometheusRule (Prometheus Operator).</summary>
public sealed class PrometheusRule : IKubernetesObject<V1ObjectMeta>
{
    public string ApiVersion { get; set; } = "";

    public string Kind { get; set; } = "";

    public V1ObjectMeta Metadata { get; set; } = new();

    public PrometheusRuleSpec Spec { get; set; } = new();

    public sealed class PrometheusRuleSpec
    {
        public List<RuleGroup> Groups { get; set; } = [];
    }

    public sealed class RuleGroup
    {
        public string Name { get; set; } = "";

        public string? Interval { get; set; }

        public List<Rule> Rules { get; set; } = [];
    }

    public sealed class Rule
    {
        public string? Alert { get; set; }

        public string? Record { get; set; }

        public string Expr { get; set; } = "";

        public string? For { get; set; }

        public Dictionary<string, string>? Labels { get; set; }

        public Dictionary<string, string>? Annotations { get; set; }
    }
}
